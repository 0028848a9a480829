// libFuzzer's entry points for our fuzz targets. Each target's main calls `fuzz { input in … }`,
// which hands control to libFuzzer (`LLVMFuzzerRunDriver`): SwiftPM links an executable's
// `main` to its top-level code, so libFuzzer's own `main` never runs.

#if canImport(Glibc)
    import Glibc
#endif

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target's body; set once, before libFuzzer starts calling it from its one thread.
nonisolated(unsafe) private var body: ((UnsafeRawBufferPointer) -> Void)?

/// libFuzzer's callback (its own `main`, linked but unused, names it too).
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    body?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Runs `target` on every input libFuzzer generates (and on the corpus given on the command
/// line); exits with libFuzzer's status.
public func fuzz(_ target: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    body = target
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}

/// The input as a file (for decoders that read paths), in a per-process file on /dev/shm.
public func withTemporaryFile<T>(_ input: UnsafeRawBufferPointer, _ body: (String) throws -> T) rethrows -> T {
    let path = "/dev/shm/callstream-fuzz-\(getpid())"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if fd >= 0 {
        var offset = 0
        while offset < input.count {
            let written = write(fd, input.baseAddress! + offset, input.count - offset)
            if written <= 0 { break }
            offset += written
        }
        close(fd)
    }
    return try body(path)
}
