import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The one file every live feed spools its messages to. A feed's bytes are cut into pages of
/// `pageBytes`; each page is a block of this file that belongs to that feed alone, and a feed
/// that is gone hands its pages back for the next ones.
///
/// Why not a file per feed: each would be an inode created at the call's start and deleted at
/// its end. At a start storm (1,000 calls within a second) that doubles the inodes a start
/// allocates, and on ext4 without a journal every new inode skips over those deleted in the
/// last minutes, so the deletions made each later start slower.
///
/// The file is unlinked as soon as it is open: nothing is left behind, whatever stops the
/// server. It keeps its largest size (every live feed's pages at the busiest moment) until then.
final class FeedSpool: Sendable {
    static let pageBytes = 4096

    private struct Pages {
        var free: [UInt32] = []
        var count: UInt32 = 0
    }

    private let fd: Int32
    private let pages = NIOLockedValueBox(Pages())

    /// Opens the file under `directory`. Blocking: call it at startup.
    init(directory: String) throws {
        let path = directory + "/live-feeds.spool"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw UploadFile.IOError(operation: "open", code: errno) }
        _ = unlink(path)
        self.fd = fd
    }

    deinit {
        close(self.fd)
    }

    /// A page for a feed's next bytes: a freed one if any, else a new one at the end.
    func allocatePage() -> UInt32 {
        self.pages.withLockedValue { pages in
            if let page = pages.free.popLast() { return page }
            pages.count += 1
            return pages.count - 1
        }
    }

    /// A feed's pages, free again (it is gone: nothing reads or writes them any more).
    func release(_ released: [UInt32]) {
        guard !released.isEmpty else { return }
        self.pages.withLockedValue { $0.free.append(contentsOf: released) }
    }

    /// Writes `bytes` at `offset` of a feed whose pages, from the one holding `offset`, are
    /// `pages`. Blocking.
    func write(_ bytes: ByteBuffer, at offset: Int64, pages: ArraySlice<UInt32>) throws {
        var bytes = bytes
        var offset = offset
        var page = pages.startIndex
        while bytes.readableBytes > 0 {
            let piece = bytes.readSlice(length: min(bytes.readableBytes, Self.room(after: offset)))!
            try LiveRecordingFile.pwriteAll(fd: self.fd, piece, at: Self.position(offset, page: pages[page]))
            offset += Int64(piece.readableBytes)
            page += 1
        }
    }

    /// Reads `length` bytes at `offset` of a feed whose pages, from the one holding `offset`,
    /// are `pages`. Blocking.
    func read(offset: Int64, length: Int, pages: ArraySlice<UInt32>) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var offset = offset
        var page = pages.startIndex
        while buffer.readableBytes < length {
            let want = min(length - buffer.readableBytes, Self.room(after: offset))
            let position = Self.position(offset, page: pages[page])
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) {
                max(pread(self.fd, $0.baseAddress, want, off_t(position)), 0)
            }
            if got == 0 { throw UploadFile.IOError(operation: "read the live feed", code: errno) }
            offset += Int64(got)
            if got == want { page += 1 }
        }
        return buffer
    }

    /// The pages (by index in a feed's page list) that bytes `start..<end` of a feed lie in.
    static func pageIndices(from start: Int64, to end: Int64) -> ClosedRange<Int> {
        Int(start / Int64(Self.pageBytes))...Int((end - 1) / Int64(Self.pageBytes))
    }

    /// Bytes from `offset` to the end of its page.
    private static func room(after offset: Int64) -> Int {
        Self.pageBytes - Int(offset % Int64(Self.pageBytes))
    }

    /// Where a feed's byte `offset`, lying in `page`, is in the file.
    private static func position(_ offset: Int64, page: UInt32) -> Int64 {
        Int64(page) * Int64(Self.pageBytes) + offset % Int64(Self.pageBytes)
    }
}
