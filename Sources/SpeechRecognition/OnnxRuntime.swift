import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The part of ONNX Runtime's C API that Moonshine needs, from the `libonnxruntime.so` in the
/// moonshine-cpp wheel, loaded with `dlopen` (a build without the wheel still links). The C
/// API is a table of function pointers whose slots never move (new versions only append), so
/// each function is taken from its slot in `onnxruntime_c_api.h`'s `OrtApi`.
final class OnnxRuntime: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The API version of ONNX Runtime 1.22, the wheel's.
    static let apiVersion: UInt32 = 22

    typealias Status = OpaquePointer?
    private typealias GetApi = @convention(c) (UInt32) -> UnsafePointer<UnsafeRawPointer?>?
    private typealias GetApiBase = @convention(c) () -> UnsafePointer<UnsafeRawPointer?>?

    private let table: UnsafePointer<UnsafeRawPointer?>
    /// One environment per process (ONNX Runtime's logging and global thread state).
    let environment: OpaquePointer
    let cpuMemory: OpaquePointer

    private static let loaded = NSLock()
    nonisolated(unsafe) private static var shared: OnnxRuntime?

    /// The runtime in `library` (a path), loaded once per process.
    static func load(_ library: String) throws -> OnnxRuntime {
        try self.loaded.withLock {
            if let shared = self.shared { return shared }
            let runtime = try OnnxRuntime(library: library)
            self.shared = runtime
            return runtime
        }
    }

    private init(library: String) throws {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            throw Failure(description: "cannot load \(library): \(dlerror().map { String(cString: $0) } ?? "unknown error")")
        }
        guard let symbol = dlsym(handle, "OrtGetApiBase") else { throw Failure(description: "\(library) has no OrtGetApiBase") }
        // OrtApiBase is { GetApi, GetVersionString }.
        guard let base = unsafeBitCast(symbol, to: GetApiBase.self)(), let getApi = base[0],
            let table = unsafeBitCast(getApi, to: GetApi.self)(Self.apiVersion)
        else {
            throw Failure(description: "\(library) does not offer ONNX Runtime's C API version \(Self.apiVersion)")
        }
        self.table = table

        var environment: OpaquePointer?
        // Logging level 3 is "error": warnings about the model's own graph are not ours to fix.
        try Self.check(table, Self.function(table, Slot.createEnv, as: CreateEnv.self)(3, "moonshine", &environment))
        var memory: OpaquePointer?
        // Slot 69 takes (allocator type, memory type): the device allocator's default memory.
        try Self.check(table, Self.function(table, Slot.createCpuMemoryInfo, as: CreateCpuMemoryInfo.self)(0, 0, &memory))
        self.environment = environment!
        self.cpuMemory = memory!
    }

    // Slots in OrtApi (onnxruntime_c_api.h).
    enum Slot {
        static let getErrorMessage = 2
        static let createEnv = 3
        static let createSession = 7
        static let run = 9
        static let createSessionOptions = 10
        static let disableMemPattern = 17
        static let setIntraOpNumThreads = 24
        static let createTensorWithDataAsOrtValue = 49
        static let getTensorMutableData = 51
        static let getDimensionsCount = 61
        static let getDimensions = 62
        static let getTensorTypeAndShape = 65
        static let createCpuMemoryInfo = 69
        static let releaseStatus = 93
        static let releaseSession = 95
        static let releaseValue = 96
        static let releaseTensorTypeAndShapeInfo = 99
        static let releaseSessionOptions = 100
        static let addSessionConfigEntry = 130
    }

    typealias CreateEnv = @convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    typealias CreateCpuMemoryInfo = @convention(c) (Int32, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    typealias CreateSession =
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    typealias CreateSessionOptions = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Status
    typealias OptionsCall = @convention(c) (OpaquePointer?) -> Status
    typealias SetThreads = @convention(c) (OpaquePointer?, Int32) -> Status
    typealias ConfigEntry = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Status
    typealias Run =
        @convention(c) (
            OpaquePointer?, OpaquePointer?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<OpaquePointer?>?, Int,
            UnsafePointer<UnsafePointer<CChar>?>?, Int, UnsafeMutablePointer<OpaquePointer?>?
        ) -> Status
    typealias CreateTensor =
        @convention(c) (
            OpaquePointer?, UnsafeMutableRawPointer?, Int, UnsafePointer<Int64>?, Int, Int32, UnsafeMutablePointer<OpaquePointer?>?
        ) -> Status
    typealias TensorData = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Status
    typealias TypeAndShape = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
    typealias DimensionsCount = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Status
    typealias Dimensions = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int64>?, Int) -> Status
    typealias Release = @convention(c) (OpaquePointer?) -> Void
    typealias ErrorMessage = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?

    func function<T>(_ slot: Int, as type: T.Type) -> T {
        Self.function(self.table, slot, as: type)
    }

    private static func function<T>(_ table: UnsafePointer<UnsafeRawPointer?>, _ slot: Int, as type: T.Type) -> T {
        unsafeBitCast(table[slot]!, to: type)
    }

    /// Throws the message of a failed call's status (and frees the status).
    func check(_ status: Status) throws {
        try Self.check(self.table, status)
    }

    private static func check(_ table: UnsafePointer<UnsafeRawPointer?>, _ status: Status) throws {
        guard let status else { return }
        let message = Self.function(table, Slot.getErrorMessage, as: ErrorMessage.self)(status).map { String(cString: $0) } ?? "unknown error"
        Self.function(table, Slot.releaseStatus, as: Release.self)(status)
        throw Failure(description: "onnxruntime: \(message)")
    }

    func release(_ slot: Int, _ object: OpaquePointer?) {
        guard let object else { return }
        self.function(slot, as: Release.self)(object)
    }
}

/// A tensor owned by ONNX Runtime (a session's output) or wrapping our own memory (an input:
/// `storage` keeps it alive as long as the tensor).
final class OnnxTensor {
    let runtime: OnnxRuntime
    let value: OpaquePointer
    private let storage: AnyObject?

    init(runtime: OnnxRuntime, value: OpaquePointer, storage: AnyObject? = nil) {
        self.runtime = runtime
        self.value = value
        self.storage = storage
    }

    /// A tensor over a copy of `elements` with `shape`; `type` is ONNX's element type (1 float,
    /// 7 int64, 9 bool).
    convenience init<Element>(runtime: OnnxRuntime, _ elements: [Element], shape: [Int64], type: Int32) throws {
        // At least one element of memory: ONNX Runtime wants a pointer even for an empty tensor.
        let storage = Storage(count: max(1, elements.count) * MemoryLayout<Element>.stride)
        elements.withUnsafeBytes { storage.bytes.copyMemory(from: $0) }
        var value: OpaquePointer?
        try shape.withUnsafeBufferPointer { shape in
            try runtime.check(
                runtime.function(OnnxRuntime.Slot.createTensorWithDataAsOrtValue, as: OnnxRuntime.CreateTensor.self)(
                    runtime.cpuMemory,
                    storage.bytes.baseAddress,
                    elements.count * MemoryLayout<Element>.stride,
                    shape.baseAddress,
                    shape.count,
                    type,
                    &value
                )
            )
        }
        self.init(runtime: runtime, value: value!, storage: storage)
    }

    deinit {
        self.runtime.release(OnnxRuntime.Slot.releaseValue, self.value)
    }

    /// The tensor's dimensions.
    func shape() throws -> [Int64] {
        var info: OpaquePointer?
        try self.runtime.check(self.runtime.function(OnnxRuntime.Slot.getTensorTypeAndShape, as: OnnxRuntime.TypeAndShape.self)(self.value, &info))
        defer { self.runtime.release(OnnxRuntime.Slot.releaseTensorTypeAndShapeInfo, info) }
        var count = 0
        try self.runtime.check(self.runtime.function(OnnxRuntime.Slot.getDimensionsCount, as: OnnxRuntime.DimensionsCount.self)(info, &count))
        var dimensions = [Int64](repeating: 0, count: count)
        try self.runtime.check(self.runtime.function(OnnxRuntime.Slot.getDimensions, as: OnnxRuntime.Dimensions.self)(info, &dimensions, count))
        return dimensions
    }

    /// The index of the largest of the first `count` floats in the last row (the next token,
    /// from a step's logits: the row is padded past the vocabulary).
    func argmaxOfLastRow(upTo count: Int) throws -> Int {
        var data: UnsafeMutableRawPointer?
        try self.runtime.check(self.runtime.function(OnnxRuntime.Slot.getTensorMutableData, as: OnnxRuntime.TensorData.self)(self.value, &data))
        let shape = try self.shape()
        let row = Int(shape.last ?? 0)
        let total = Int(shape.reduce(1, *))
        guard row > 0, total >= row else { throw OnnxRuntime.Failure(description: "empty logits \(shape)") }
        let floats = UnsafeBufferPointer(start: data!.assumingMemoryBound(to: Float.self) + total - row, count: min(count, row))
        var best = 0
        for index in floats.indices where floats[index] > floats[best] { best = index }
        return best
    }

    /// Memory for an input tensor, freed with it.
    private final class Storage {
        let bytes: UnsafeMutableRawBufferPointer
        init(count: Int) {
            self.bytes = .allocate(byteCount: count, alignment: 64)
            self.bytes.initializeMemory(as: UInt8.self, repeating: 0)
        }
        deinit { self.bytes.deallocate() }
    }
}

/// One model loaded into ONNX Runtime.
final class OnnxSession: @unchecked Sendable {
    let runtime: OnnxRuntime
    private let session: OpaquePointer

    /// `threads`: ONNX Runtime's threads for one run (0: one per core).
    init(runtime: OnnxRuntime, path: String, threads: Int) throws {
        self.runtime = runtime
        var options: OpaquePointer?
        try runtime.check(runtime.function(OnnxRuntime.Slot.createSessionOptions, as: OnnxRuntime.CreateSessionOptions.self)(&options))
        defer { runtime.release(OnnxRuntime.Slot.releaseSessionOptions, options) }
        // Each segment has its own length: a memory pattern planned per input shape is never
        // reused and only grows the process (measured: 460 MB flat without, 620 MB with).
        try runtime.check(runtime.function(OnnxRuntime.Slot.disableMemPattern, as: OnnxRuntime.OptionsCall.self)(options))
        try runtime.check(runtime.function(OnnxRuntime.Slot.setIntraOpNumThreads, as: OnnxRuntime.SetThreads.self)(options, Int32(threads)))
        // Idle pool threads sleep rather than spin: the cores are the live path's too.
        try runtime.check(
            runtime.function(OnnxRuntime.Slot.addSessionConfigEntry, as: OnnxRuntime.ConfigEntry.self)(
                options,
                "session.intra_op.allow_spinning",
                "0"
            )
        )
        var session: OpaquePointer?
        try runtime.check(
            runtime.function(OnnxRuntime.Slot.createSession, as: OnnxRuntime.CreateSession.self)(runtime.environment, path, options, &session)
        )
        self.session = session!
    }

    deinit {
        self.runtime.release(OnnxRuntime.Slot.releaseSession, self.session)
    }

    /// Runs the model on named inputs; returns the named outputs, in order.
    func run(_ inputs: [(name: String, tensor: OnnxTensor)], outputs: [String]) throws -> [OnnxTensor] {
        let inputNames = inputs.map { strdup($0.name) }
        let outputNames = outputs.map { strdup($0) }
        defer { (inputNames + outputNames).forEach { free($0) } }
        let values: [OpaquePointer?] = inputs.map(\.tensor.value)
        var results = [OpaquePointer?](repeating: nil, count: outputs.count)
        let run = self.runtime.function(OnnxRuntime.Slot.run, as: OnnxRuntime.Run.self)
        let status = inputNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { inNames in
            outputNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { outNames in
                run(self.session, nil, inNames.baseAddress, values, values.count, outNames.baseAddress, outNames.count, &results)
            }
        }
        try self.runtime.check(status)
        return results.map { OnnxTensor(runtime: self.runtime, value: $0!) }
    }
}
