import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The names of files that were finished (closed after writing) or moved into the watched
/// folders, from inotify, as they happen. A thread of its own blocks in `read`.
final class FolderWatcher: @unchecked Sendable {
    // @unchecked: `fd` and `folders` are set in init and only read afterwards.
    private let fd: Int32
    private var folders: [Int32: String] = [:]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(folders: [String]) throws {
        self.fd = inotify_init1(Int32(IN_CLOEXEC))
        guard self.fd >= 0 else { throw Failure(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        for folder in folders {
            let watch = inotify_add_watch(self.fd, folder, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO))
            guard watch >= 0 else { throw Failure(description: "cannot watch \(folder): \(String(cString: strerror(errno)))") }
            self.folders[watch] = folder
        }
    }

    /// (folder, file name) for every event, until the process ends.
    func events() -> AsyncStream<(folder: String, name: String)> {
        let (stream, continuation) = AsyncStream.makeStream(of: (folder: String, name: String).self, bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = read(self.fd, &buffer, buffer.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    continuation.finish()
                    return
                }
                var offset = 0
                let header = MemoryLayout<inotify_event>.size
                while offset + header <= count {
                    let (watch, length) = buffer.withUnsafeBytes { raw in
                        let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                        return (event.wd, Int(event.len))
                    }
                    let nameBytes = buffer[(offset + header)..<min(offset + header + length, count)].prefix { $0 != 0 }
                    if let folder = self.folders[watch], !nameBytes.isEmpty {
                        continuation.yield((folder, String(decoding: nameBytes, as: UTF8.self)))
                    }
                    offset += header + length
                }
            }
        }
        thread.name = "inotify"
        thread.start()
        return stream
    }
}
