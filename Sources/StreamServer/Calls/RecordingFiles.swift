import Crypto
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The recordings folder under `--data-dir`: `recordings/<recording id>.<ext>`, `tmp/` for
/// uploads in progress, and `spare/` for live recordings' files made ahead. An upload is only
/// ever renamed into `recordings/` once it is complete and fsync'd, so a crash leaves at most a
/// stray temporary file, removed at the next start.
struct RecordingFiles: Sendable {
    let dataDirectory: URL

    var recordingsDirectory: URL { self.dataDirectory.appendingPathComponent("recordings") }
    var temporaryDirectory: URL { self.dataDirectory.appendingPathComponent("tmp") }
    /// Empty files made ahead for live recordings (`SpareFiles`).
    var spareDirectory: URL { self.dataDirectory.appendingPathComponent("spare") }

    /// Creates the folders and removes uploads a previous run left unfinished.
    func prepare() throws {
        let manager = FileManager.default
        try manager.createDirectory(at: self.recordingsDirectory, withIntermediateDirectories: true)
        try manager.createDirectory(at: self.temporaryDirectory, withIntermediateDirectories: true)
        // Half-written archives of a run that stopped mid-transcode (their jobs run again).
        for name in try manager.contentsOfDirectory(atPath: self.recordingsDirectory.path) where name.hasSuffix(".part") {
            try? manager.removeItem(at: self.recordingsDirectory.appendingPathComponent(name))
        }
        for name in try manager.contentsOfDirectory(atPath: self.temporaryDirectory.path) {
            try? manager.removeItem(at: self.temporaryDirectory.appendingPathComponent(name))
        }
    }

    /// The stored file's path relative to the data directory (what the database keeps).
    func relativePath(id: UUID, format: AudioFileFormat) -> String {
        "recordings/\(id.uuidString.lowercased()).\(format.rawValue)"
    }

    func absolutePath(_ relativePath: String) -> String {
        self.dataDirectory.appendingPathComponent(relativePath).path
    }

    func beginUpload() throws -> UploadFile {
        try UploadFile(path: self.temporaryDirectory.appendingPathComponent("\(UUID().uuidString.lowercased()).part").path)
    }

    /// Moves a finished, fsync'd upload into place and makes the rename itself durable.
    func commit(_ upload: UploadFile, to relativePath: String) async throws {
        let target = self.absolutePath(relativePath)
        let directory = self.recordingsDirectory.path
        try await NIOThreadPool.singleton.runIfActive {
            guard rename(upload.path, target) == 0 else { throw UploadFile.IOError(operation: "rename", code: errno) }
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                _ = fsync(fd)
                close(fd)
            }
        }
    }

    func remove(_ relativePath: String) {
        try? FileManager.default.removeItem(atPath: self.absolutePath(relativePath))
    }
}

/// A file being uploaded. Bytes are gathered into 256 KiB batches; each batch is hashed
/// (SHA-256) and written on NIO's thread pool while the next one is being received, so
/// neither hashing nor disk I/O runs on an event loop or holds up reading the body. At most
/// one batch is in the pool at a time, which keeps writes in order and memory bounded.
/// `finish()` fsyncs; `discard()` removes the file. Used by one request task at a time.
final class UploadFile: @unchecked Sendable {
    struct IOError: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "\(self.operation) failed: \(String(cString: strerror(self.code)))" }
    }

    let path: String
    private let fd: Int32
    /// Only touched by the batch being written, and batches run one after another.
    private var hasher = SHA256()
    private var pending: ByteBuffer
    /// The batch on the thread pool, if any.
    private var writing: EventLoopFuture<Void>?
    private(set) var size: Int64 = 0
    private static let batchBytes = 256 * 1024

    init(path: String) throws {
        self.path = path
        self.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard self.fd >= 0 else { throw IOError(operation: "open", code: errno) }
        self.pending = ByteBufferAllocator().buffer(capacity: Self.batchBytes)
    }

    deinit {
        close(self.fd)
    }

    func append(_ bytes: ByteBuffer) async throws {
        self.size += Int64(bytes.readableBytes)
        var bytes = bytes
        self.pending.writeBuffer(&bytes)
        if self.pending.readableBytes >= Self.batchBytes {
            try await self.handOverBatch()
        }
    }

    /// Writes what is left and fsyncs; returns the SHA-256 of everything appended.
    func finish() async throws -> String {
        try await self.handOverBatch()
        try await self.waitForBatch()
        let fd = self.fd
        try await NIOThreadPool.singleton.runIfActive {
            guard fsync(fd) == 0 else { throw IOError(operation: "fsync", code: errno) }
        }
        return self.hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Removes the file, once no batch is being written to it.
    func discard() async {
        try? await self.waitForBatch()
        unlink(self.path)
    }

    /// Up to `count` bytes at `offset` of what has been written (for sniffing the format).
    func read(offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(self.fd, $0.baseAddress, count, off_t(offset)) }
        guard got >= 0 else { throw IOError(operation: "read", code: errno) }
        return Array(bytes.prefix(got))
    }

    /// Waits for the previous batch, then gives the pending bytes to the thread pool.
    private func handOverBatch() async throws {
        try await self.waitForBatch()
        guard self.pending.readableBytes > 0 else { return }
        let batch = self.pending
        self.pending = ByteBufferAllocator().buffer(capacity: Self.batchBytes)
        self.writing = NIOThreadPool.singleton.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            try self.hashAndWrite(batch)
        }
    }

    /// Waits until the batch on the thread pool, if any, is written.
    private func waitForBatch() async throws {
        defer { self.writing = nil }
        try await self.writing?.get()
    }

    /// Runs on the thread pool.
    private func hashAndWrite(_ batch: ByteBuffer) throws {
        try batch.withUnsafeReadableBytes { bytes in
            self.hasher.update(bufferPointer: bytes)
            var written = 0
            while written < bytes.count {
                let result = write(self.fd, bytes.baseAddress! + written, bytes.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw IOError(operation: "write", code: errno)
                }
                written += result
            }
        }
    }
}
