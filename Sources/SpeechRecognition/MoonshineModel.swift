import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Moonshine base-en (the `moonshine-cpp` wheel's `libmoonshine.so` and model), loaded with
/// `dlopen` so that a build without the wheel still links and runs the other engines. It
/// decodes a whole segment at once: finals only. Calls are serialised by a lock (the C library
/// promises nothing about threads), which makes one model safe to share.
public final class MoonshineModel: @unchecked Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    private typealias LoadModel = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32) -> Int32
    private typealias Transcribe = @convention(c) (Int32, UnsafePointer<Float>?, Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32
    private typealias FreeText = @convention(c) (UnsafeMutablePointer<CChar>?) -> Void
    private typealias FreeModel = @convention(c) (Int32) -> Void

    private let transcribeFunction: Transcribe
    private let freeText: FreeText
    private let freeModel: FreeModel
    private let handle: Int32
    private let lock = NSLock()

    /// `directory` is the wheel's `moonshine_cpp` folder: the two libraries and `models/base-en`.
    public init(directory: String) throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        // libmoonshine.so needs libonnxruntime.so.1 and has no RUNPATH: loading the wheel's
        // copy by path first (global, under that soname) satisfies it.
        guard let runtime = files.filter({ $0.hasPrefix("libonnxruntime.so.") }).sorted().last else {
            throw LoadError(description: "moonshine: no libonnxruntime.so.* in \(directory) (run `make setup`)")
        }
        guard dlopen("\(directory)/\(runtime)", RTLD_NOW | RTLD_GLOBAL) != nil else {
            throw LoadError(description: "moonshine: cannot load \(directory)/\(runtime): \(Self.dlerrorText())")
        }
        guard let library = dlopen("\(directory)/libmoonshine.so", RTLD_NOW) else {
            throw LoadError(description: "moonshine: cannot load \(directory)/libmoonshine.so: \(Self.dlerrorText())")
        }
        func symbol<T>(_ name: String, as type: T.Type) throws -> T {
            guard let pointer = dlsym(library, name) else {
                throw LoadError(description: "moonshine: libmoonshine.so has no \(name)")
            }
            return unsafeBitCast(pointer, to: type)
        }
        let load = try symbol("moonshine_load_model", as: LoadModel.self)
        self.transcribeFunction = try symbol("moonshine_transcribe", as: Transcribe.self)
        self.freeText = try symbol("moonshine_free_text", as: FreeText.self)
        self.freeModel = try symbol("moonshine_free_model", as: FreeModel.self)
        let model = "\(directory)/models/base-en"
        for file in ["encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"] {
            guard FileManager.default.fileExists(atPath: "\(model)/\(file)") else {
                throw LoadError(description: "moonshine: the model file \(model)/\(file) is missing")
            }
        }
        // Model type 1 is "base" in the library's enum (0 is "tiny").
        let handle = load("\(model)/encoder_model.ort", "\(model)/decoder_model_merged.ort", "\(model)/tokenizer.bin", 1)
        guard handle >= 0 else { throw LoadError(description: "moonshine: the model in \(model) did not load") }
        self.handle = handle
    }

    deinit {
        self.freeModel(self.handle)
    }

    /// The text of one segment of 16 kHz mono audio.
    public func transcribe(_ samples: [Float]) throws -> String {
        guard !samples.isEmpty else { return "" }
        let (status, text): (Int32, String?) = self.lock.withLock {
            var text: UnsafeMutablePointer<CChar>?
            let status = samples.withUnsafeBufferPointer { self.transcribeFunction(self.handle, $0.baseAddress, $0.count, &text) }
            defer { if let text { self.freeText(text) } }
            return (status, text.map { String(cString: $0) })
        }
        guard status == 0, let text else { throw LoadError(description: "moonshine: transcription failed (\(status))") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func dlerrorText() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }
}
