import AudioAnalysis
import AudioCodecs
import Crypto
import Foundation
import Protocol

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a WAV recording's permanent MP3 copy (`--archive-format mp3`): two channels stay
/// two (left and right), any other count is mixed to one. The MP3 goes to `path.part`, is
/// synced and then renamed, so the final name only ever holds a whole file; a crash midway
/// leaves the original untouched and the job is simply run again.
enum RecordingArchiver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Tests: with `CALLSTREAM_WORKER_CRASH_IN_ARCHIVE=1` the worker dies once per archive,
    /// after its first block (a marker file beside it says it did).
    static let crashesOnce = ProcessInfo.processInfo.environment["CALLSTREAM_WORKER_CRASH_IN_ARCHIVE"] == "1"

    static func archive(wavPath: String, _ request: ArchiveRequest) throws -> ArchiveResult {
        let decoder = try WAVDecoder(path: wavPath)
        let stereo = decoder.header.channels == 2
        let encoder = try MP3Encoder(sampleRate: decoder.header.sampleRate, channels: stereo ? 2 : 1, bitrateKbps: Int(request.bitrateKbps))
        let partPath = request.path + ".part"
        let fd = open(partPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Failure(description: "cannot create \(partPath): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        var size: Int64 = 0
        let write: (UnsafeBufferPointer<UInt8>) throws -> Void = { bytes in
            var done = 0
            while done < bytes.count {
                let wrote = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if wrote < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "cannot write the archive: \(String(cString: strerror(errno)))")
                }
                done += wrote
            }
            size += Int64(bytes.count)
        }
        try decoder.decode(groups: stereo ? [0..<1, 1..<2] : [0..<decoder.header.channels]) { blocks in
            try blocks[0].withUnsafeBufferPointer { left in
                if stereo {
                    try blocks[1].withUnsafeBufferPointer { right in try encoder.encode(left: left, right: right, write: write) }
                } else {
                    try encoder.encode(left: left, right: nil, write: write)
                }
            }
            let marker = request.path + ".crashed"
            if Self.crashesOnce, size > 0, !FileManager.default.fileExists(atPath: marker),
                FileManager.default.createFile(atPath: marker, contents: nil)
            {
                PipeIO.log("crashing on purpose mid-archive (CALLSTREAM_WORKER_CRASH_IN_ARCHIVE)")
                abort()
            }
        }
        try encoder.finish(write: write)
        let tag = encoder.infoTag()
        guard tag.isEmpty || pwrite(fd, tag, tag.count, 0) == tag.count else {
            throw Failure(description: "cannot write the archive's Info tag: \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else { throw Failure(description: "cannot sync the archive: \(String(cString: strerror(errno)))") }
        let sha256 = try Self.sha256(fd, size: size)
        close(fd)
        closed = true
        guard rename(partPath, request.path) == 0 else {
            throw Failure(description: "cannot rename the archive: \(String(cString: strerror(errno)))")
        }
        return ArchiveResult(sizeBytes: size, sha256: sha256)
    }

    /// The finished file's SHA-256, read back in blocks (bounded memory; the file is in the
    /// page cache). It cannot be hashed as it is written: the Info tag overwrites its first
    /// frame only once the frame count is known, at the end.
    private static func sha256(_ fd: Int32, size: Int64) throws -> String {
        var hasher = SHA256()
        var block = [UInt8](repeating: 0, count: 1 << 16)
        var offset: Int64 = 0
        while offset < size {
            let count = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure(description: "cannot read the archive back: \(String(cString: strerror(errno)))") }
            block.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += Int64(count)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
