import Foundation
import NIOConcurrencyHelpers
import Protocol
import SpeechRecognition

#if canImport(Glibc)
    import Glibc
#endif

/// Moonshine in a child process of the worker (`audio-worker --moonshine-helper`), replaced
/// when it has grown too big. moonshine-cpp 0.1.4 keeps about 30 MB per decode (measured: a
/// process grew from 0.8 to 2 GB over 40 segments, and freeing and reloading the model, or
/// `malloc_trim`, gave back only a part), so one model in the worker would take gigabytes over
/// an hour of calls. Decoding a segment keeps no state, so the helper can be swapped between
/// two segments: once it passes `recycleBytes`, a replacement is started in the background
/// (loading takes a second or two) and takes over at the next segment, and the old one exits.
/// Callers serialise their calls (`ModelGate`).
final class MoonshineHelper: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// One running helper process and its pipes.
    private struct Child: @unchecked Sendable {
        let process: Process
        let input: FileHandle
        let output: FileHandle

        /// Closing its input ends it; reaped on a thread of its own.
        func retire() {
            try? self.input.close()
            let process = self.process
            Thread.detachNewThread {
                process.waitUntilExit()
            }
        }
    }

    /// Past this resident size the helper is replaced: a fresh one takes about 450 MB, and
    /// both live while the new one loads, so a worker stays under 1.5 GB.
    static let recycleBytes: UInt64 = 800 << 20

    private let directory: String
    private var current: Child?
    /// A replacement being started, or ready.
    private let spare = NIOLockedValueBox<(starting: Bool, child: Child?)>((false, nil))
    /// The current helper's pid, for the stats thread too.
    private let pid = NIOLockedValueBox<Int32?>(nil)

    init(directory: String) throws {
        self.directory = directory
        self.use(try Self.start(directory: directory))
    }

    /// The text of one 16 kHz segment. A helper that died is started again and the segment
    /// tried once more.
    func transcribe(_ samples: [Float]) throws -> String {
        let oversized = self.residentBytes > Self.recycleBytes
        if oversized,
            let ready = self.spare.withLockedValue({ spare -> Child? in
                defer { spare.child = nil }
                return spare.child
            })
        {
            self.current?.retire()
            self.use(ready)
        }
        let text: String
        do {
            guard let current = self.current else { throw Failure(description: "no helper") }
            text = try Self.request(samples, to: current)
        } catch {
            PipeIO.log("the Moonshine helper failed (\(error)); starting a new one")
            self.current?.retire()
            self.use(try Self.start(directory: self.directory))
            text = try Self.request(samples, to: self.current!)
        }
        if self.residentBytes > Self.recycleBytes { self.prepareSpare() }
        return text
    }

    /// The helper's resident memory (read from any thread).
    var residentBytes: UInt64 {
        self.pid.withLockedValue { $0 }.map { ProcessStats.residentBytes(pid: $0) } ?? 0
    }

    private func use(_ child: Child) {
        self.current = child
        self.pid.withLockedValue { $0 = child.process.processIdentifier }
    }

    private func prepareSpare() {
        let start = self.spare.withLockedValue { spare -> Bool in
            guard !spare.starting, spare.child == nil else { return false }
            spare.starting = true
            return true
        }
        guard start else { return }
        let directory = self.directory
        Thread.detachNewThread { [spare = self.spare] in
            BackgroundPriority.lowerCurrentThread()
            let child = try? Self.start(directory: directory)
            if child == nil { PipeIO.log("a replacement Moonshine helper did not start; keeping the old one") }
            spare.withLockedValue { $0 = (false, child) }
        }
    }

    private static func request(_ samples: [Float], to child: Child) throws -> String {
        var message = Data()
        withUnsafeBytes(of: UInt32(samples.count).littleEndian) { message.append(contentsOf: $0) }
        samples.withUnsafeBytes { message.append(contentsOf: $0) }
        try child.input.write(contentsOf: message)
        let header = try Self.read(child.output, count: 8)
        let status = Int32(littleEndian: header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int32.self) })
        let length = Int(UInt32(littleEndian: header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }))
        let text = String(decoding: try Self.read(child.output, count: length), as: UTF8.self)
        guard status == 0 else { throw Failure(description: text) }
        return text
    }

    private static func start(directory: String) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--moonshine-helper", "--moonshine-dir", directory]
        let toHelper = Pipe()
        let fromHelper = Pipe()
        process.standardInput = toHelper
        process.standardOutput = fromHelper
        try process.run()
        let child = Child(process: process, input: toHelper.fileHandleForWriting, output: fromHelper.fileHandleForReading)
        // One byte once the model is loaded (and warmed up).
        guard (try? Self.read(child.output, count: 1)) != nil else {
            child.retire()
            throw Failure(description: "moonshine: the helper process did not start (see the log above)")
        }
        return child
    }

    private static func read(_ handle: FileHandle, count: Int) throws -> Data {
        var data = Data()
        while data.count < count {
            guard let more = try handle.read(upToCount: count - data.count), !more.isEmpty else {
                throw Failure(description: "the helper closed its output")
            }
            data.append(more)
        }
        return data
    }

    /// The helper's side: loads the model, says so, then answers requests until stdin closes.
    static func serve(directory: String) throws {
        let model = try MoonshineModel(directory: directory)
        _ = try? model.transcribe(SpeechModels.warmUpAudio)
        let input = FileHandle.standardInput
        let output = FileHandle.standardOutput
        try output.write(contentsOf: Data([1]))
        while let header = try? Self.read(input, count: 4) {
            let count = Int(UInt32(littleEndian: header.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
            let bytes = try Self.read(input, count: count * 4)
            var samples = [Float](repeating: 0, count: count)
            samples.withUnsafeMutableBytes { target in _ = bytes.copyBytes(to: target.bindMemory(to: UInt8.self)) }
            var status: Int32 = 0
            var text: String
            do {
                text = try model.transcribe(samples)
            } catch {
                status = 1
                text = "\(error)"
            }
            var answer = Data()
            withUnsafeBytes(of: status.littleEndian) { answer.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { answer.append(contentsOf: $0) }
            answer.append(contentsOf: Array(text.utf8))
            try output.write(contentsOf: answer)
        }
    }
}
