import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Blocking reads and writes on the worker's stdin/stdout. The C `stdin`/`stdout` globals are
/// not usable under strict concurrency, and unbuffered descriptors are what we want anyway.
enum PipeIO {
    /// Reads up to `capacity` bytes from stdin; nil at end of file.
    static func read(into buffer: inout ByteBuffer, capacity: Int) throws -> Int? {
        while true {
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { pointer in
                Glibc.read(STDIN_FILENO, pointer.baseAddress, capacity)
            }
            if count > 0 { return count }
            if count == 0 { return nil }
            if errno == EINTR { continue }
            throw PipeIOError.read(errno)
        }
    }

    /// Writes all readable bytes of `buffer` to stdout.
    static func writeAll(_ buffer: inout ByteBuffer) throws {
        while buffer.readableBytes > 0 {
            let written = buffer.withUnsafeReadableBytes { pointer in
                Glibc.write(STDOUT_FILENO, pointer.baseAddress, pointer.count)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw PipeIOError.write(errno)
            }
            buffer.moveReaderIndex(forwardBy: written)
        }
        buffer.clear()
    }

    static func log(_ message: String) {
        var line = "audio-worker[\(getpid())]: \(message)\n"
        line.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

enum PipeIOError: Error {
    case read(Int32)
    case write(Int32)
}
