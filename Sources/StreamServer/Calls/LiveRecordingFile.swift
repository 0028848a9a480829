import CWriteback
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Protocol

#if canImport(Glibc)
    import Glibc
#endif

/// A live session's recording: a 16-bit PCM WAV under `recordings/`, written while the session
/// streams. Decoded audio gathers in memory up to `batchBytes` or `maxBatchAge` (whichever comes
/// first: the age is checked with each append and by the sessions' sweep, `flushStale(at:)`),
/// then goes to `LiveFileWriter`'s thread, joined there into one `pwrite`, so memory per
/// session is bounded whatever the call's length and the event loops never touch the disk.
/// Batches are written one after another in order.
///
/// The header's sizes stay 0 while streaming; `finish()` writes them, fsyncs and hashes the
/// file. After a crash, `repair(path:)` derives them from the file's length instead.
///
/// A write that fails (a full disk) is reported once to `onFailure`; later audio is dropped,
/// and `finish()` keeps exactly the audio written before the failure.
final class LiveRecordingFile: Sendable {
    static let headerBytes = 44
    /// 8 KiB: a quarter of a second of 16 kHz mono. At 16 KiB in one preallocated buffer a
    /// session held 33 KiB (heaptrack, 300 sessions); the pending chunks themselves are kept now.
    static let batchBytes = 8 * 1024
    /// The disk write of each whole 256 KiB (8 s of 16 kHz mono) starts once it is written.
    static let writebackBytes: Int64 = 256 * 1024
    static let pageBytes: Int64 = 4096

    private struct State {
        /// Audio waiting to be written: the chunks as they came, not copied on the event loop
        /// (a PCM chunk is the one the worker was sent, so it costs nothing more).
        var pending: [ByteBuffer] = []
        var pendingBytes = 0
        var pendingAge: BatchAge
        /// Audio bytes appended so far (written or pending).
        var dataBytes: Int64 = 0
        /// Audio bytes on disk (every batch before the first failed one).
        var writtenBytes: Int64 = 0
        var failure: (any Error)?
        var onFailure: (@Sendable (any Error) -> Void)?
    }

    let path: String
    let format: StreamFormat
    private let fd: Int32
    /// Where this file's writeback windows begin: a random page within the first window.
    /// Calls that start together (1,000 at once in the session benchmark) would otherwise
    /// cross each 256 KiB together and start 256 MB of disk writes in the same 100 ms, every
    /// 8 s; those bursts (block-layer throttling, ext4's allocations, the I/O completions) held
    /// up the event loops for 10–30 ms, up to 260 ms on a slow host.
    private let writebackPhase = Int64.random(in: 0..<(LiveRecordingFile.writebackBytes / LiveRecordingFile.pageBytes)) * LiveRecordingFile.pageBytes
    private let state: NIOLockedValueBox<State>

    /// Creates the file (from a spare if there is one) with its header. Blocking: call it off
    /// the event loops.
    init(path: String, format: StreamFormat, maxBatchAge: TimeAmount, spares: SpareFiles) throws {
        self.fd = try spares.create(at: path)
        self.path = path
        self.format = format
        self.state = NIOLockedValueBox(State(pendingAge: BatchAge(maxAge: maxBatchAge)))
        var header = ByteBuffer()
        Self.writeHeader(into: &header, format: format, dataBytes: 0)
        try Self.pwriteAll(fd: fd, header, at: 0)
    }

    deinit {
        close(self.fd)
    }

    /// Called once, from the writer's thread, when a write fails.
    func onFailure(_ body: @escaping @Sendable (any Error) -> Void) {
        self.state.withLockedValue { $0.onFailure = body }
    }

    /// Appends decoded audio; hands a batch to the writer once `batchBytes` have gathered
    /// or its oldest audio is `maxBatchAge` old.
    func append(_ pcm: ByteBuffer, at now: NIODeadline = .now()) {
        self.state.withLockedValue { state in
            guard state.failure == nil, pcm.readableBytes > 0 else { return }
            state.dataBytes += Int64(pcm.readableBytes)
            state.pendingBytes += pcm.readableBytes
            // A slice of a larger buffer (a worker's pipe read) is copied: kept, it would hold
            // the whole read in memory.
            state.pending.append(pcm.storageCapacity > 2 * pcm.readableBytes ? ByteBuffer(buffer: pcm) : pcm)
            let stale = state.pendingAge.added(at: now)
            if stale || state.pendingBytes >= Self.batchBytes {
                self.handOver(&state)
            }
        }
    }

    /// Writes the batch if its oldest audio is `maxBatchAge` old (the sweep's call, for a
    /// session gone quiet: bounds what a crash can lose).
    func flushStale(at now: NIODeadline) {
        self.state.withLockedValue { state in
            if state.pendingAge.isStale(at: now) { self.handOver(&state) }
        }
    }

    /// Writes whatever has gathered.
    func flush() {
        self.state.withLockedValue { state in
            if state.pendingBytes > 0 { self.handOver(&state) }
        }
    }

    /// Writes the rest and the final header, fsyncs, and returns the file's size and SHA-256
    /// (the last part on `BackgroundThreads.files`: it reads the whole file back).
    func finish() async throws -> (sizeBytes: Int64, sha256: String) {
        self.state.withLockedValue { state in
            if state.pendingBytes > 0, state.failure == nil { self.handOver(&state) }
        }
        await LiveFileWriter.shared.drain()
        let (written, failed) = self.state.withLockedValue { ($0.writtenBytes, $0.failure != nil) }
        let fd = self.fd
        let format = self.format
        return try await BackgroundThreads.files.runIfActive {
            // After a failed write, the file ends with the last batch that was written whole.
            if failed, ftruncate(fd, off_t(Int64(Self.headerBytes) + written)) != 0 {
                throw UploadFile.IOError(operation: "truncate", code: errno)
            }
            return try Self.finalise(fd: fd, format: format, dataBytes: written)
        }
    }

    /// Called with the lock held: the pending bytes become the next batch in the chain.
    private func handOver(_ state: inout State) {
        let chunks = state.pending
        let bytes = state.pendingBytes
        let offset = Int64(Self.headerBytes) + state.dataBytes - Int64(bytes)
        state.pending = []
        state.pendingBytes = 0
        state.pendingAge.reset()
        LiveFileWriter.shared.submit { self.write(chunks, bytes: bytes, at: offset) }
    }

    /// On the writer's thread. After a failed write the later batches are dropped: the file
    /// keeps the audio before the failure.
    private func write(_ chunks: [ByteBuffer], bytes: Int, at offset: Int64) {
        guard self.state.withLockedValue({ $0.failure == nil }) else { return }
        do {
            try Self.pwriteAll(fd: self.fd, Self.joined(chunks, bytes: bytes), at: offset)
            self.state.withLockedValue { $0.writtenBytes += Int64(bytes) }
            self.startWriteback(from: offset, to: offset + Int64(bytes))
        } catch {
            self.failed(error)
        }
    }

    /// Starts writing the file's newest whole `writebackBytes` window to disk once a batch
    /// completes it, on `BackgroundThreads.files` (nice 10), which does that work. Left to the
    /// kernel, every live recording's dirty pages went out together once 30 s old
    /// (`dirty_expire`): at 1,000 sessions 1 GB at once, written by its nice-0 threads in about
    /// a second while the streams waited. This way they go out evenly, at a low priority. The
    /// windows end at `writebackPhase + k × writebackBytes` (the first one is shorter).
    private func startWriteback(from start: Int64, to end: Int64) {
        let (window, phase) = (Self.writebackBytes, self.writebackPhase)
        // The last window end at or before `offset` (0: none yet).
        func windowEnd(_ offset: Int64) -> Int64 { offset < phase ? 0 : phase + (offset - phase) / window * window }
        let from = windowEnd(start)
        let upTo = windowEnd(end)
        guard upTo > from else { return }
        // The closure holds the file, so its descriptor is still open when this runs.
        BackgroundThreads.files.submit { _ in _ = callstream_start_writeback(self.fd, from, upTo - from) }
    }

    /// The chunks as one buffer for one `pwrite` (a single chunk as it is).
    private static func joined(_ chunks: [ByteBuffer], bytes: Int) -> ByteBuffer {
        guard chunks.count > 1 else { return chunks[0] }
        var batch = ByteBufferAllocator().buffer(capacity: bytes)
        for var chunk in chunks { batch.writeBuffer(&chunk) }
        return batch
    }

    private func failed(_ error: any Error) {
        // Reported once, outside the lock (the session takes its own).
        let report = self.state.withLockedValue { state -> (@Sendable (any Error) -> Void)? in
            guard state.failure == nil else { return nil }
            state.failure = error
            state.pending = []
            state.pendingBytes = 0
            state.pendingAge.reset()
            return state.onFailure
        }
        report?(error)
    }

    /// Finalises a file a crashed server left unfinished: its sizes come from its length
    /// (cut to whole frames). Returns its size and SHA-256. Blocking.
    static func repair(path: String) throws -> (sizeBytes: Int64, sha256: String, dataBytes: Int64) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw UploadFile.IOError(operation: "open", code: errno) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: Self.headerBytes)
        guard pread(fd, &header, Self.headerBytes, 0) == Self.headerBytes,
            header[0..<4].elementsEqual("RIFF".utf8), header[36..<40].elementsEqual("data".utf8)
        else {
            throw UploadFile.IOError(operation: "read the recording's header", code: EINVAL)
        }
        let channels = Int(header[22]) | Int(header[23]) << 8
        let rate = Int(header[24]) | Int(header[25]) << 8 | Int(header[26]) << 16 | Int(header[27]) << 24
        guard channels > 0, rate > 0 else { throw UploadFile.IOError(operation: "read the recording's header", code: EINVAL) }
        let format = StreamFormat(codec: .pcmS16LE, sampleRate: rate, channels: channels)
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw UploadFile.IOError(operation: "stat", code: errno) }
        let raw = Int64(status.st_size) - Int64(Self.headerBytes)
        let dataBytes = raw - raw % Int64(format.pcmFrameBytes)
        guard ftruncate(fd, off_t(Int64(Self.headerBytes) + dataBytes)) == 0 else { throw UploadFile.IOError(operation: "truncate", code: errno) }
        let (size, sha256) = try Self.finalise(fd: fd, format: format, dataBytes: dataBytes)
        return (size, sha256, dataBytes)
    }

    private static func finalise(fd: Int32, format: StreamFormat, dataBytes: Int64) throws -> (sizeBytes: Int64, sha256: String) {
        var header = ByteBuffer()
        Self.writeHeader(into: &header, format: format, dataBytes: dataBytes)
        try Self.pwriteAll(fd: fd, header, at: 0)
        guard fsync(fd) == 0 else { throw UploadFile.IOError(operation: "fsync", code: errno) }
        let size = Int64(Self.headerBytes) + dataBytes
        var hasher = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < size {
            let got = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw UploadFile.IOError(operation: "read", code: errno)
            }
            if got == 0 { break }
            chunk.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0.prefix(got))) }
            offset += Int64(got)
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// The canonical 44-byte PCM header (sizes clamped to what 32 bits can say).
    static func writeHeader(into buffer: inout ByteBuffer, format: StreamFormat, dataBytes: Int64) {
        let data = UInt32(clamping: dataBytes)
        buffer.writeString("RIFF")
        buffer.writeInteger(UInt32(clamping: Int64(data) + 36), endianness: .little)
        buffer.writeString("WAVEfmt ")
        buffer.writeInteger(UInt32(16), endianness: .little)
        buffer.writeInteger(UInt16(1), endianness: .little)
        buffer.writeInteger(UInt16(format.channels), endianness: .little)
        buffer.writeInteger(UInt32(format.sampleRate), endianness: .little)
        buffer.writeInteger(UInt32(format.sampleRate * format.pcmFrameBytes), endianness: .little)
        buffer.writeInteger(UInt16(format.pcmFrameBytes), endianness: .little)
        buffer.writeInteger(UInt16(16), endianness: .little)
        buffer.writeString("data")
        buffer.writeInteger(data, endianness: .little)
    }

    static func pwriteAll(fd: Int32, _ bytes: ByteBuffer, at offset: Int64) throws {
        try bytes.withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let written = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + Int64(done)))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw UploadFile.IOError(operation: "write", code: errno)
                }
                done += written
            }
        }
    }
}
