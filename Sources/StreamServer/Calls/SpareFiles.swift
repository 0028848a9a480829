import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Empty files made ahead of time in `spare/` under the data directory: a live session's
/// recording is one of them renamed into `recordings/`, so a start allocates no inode.
///
/// Why: on ext4 without a journal (this project's machines), each new inode skips every inode
/// deleted in the last minutes, reading their table blocks, in kernel code that does not yield
/// the CPU. At a start storm (1,000 calls within a second, after as many deleted) creating the
/// files took a fifth of both cores for most of a second, and the streams already running
/// waited. Renaming costs two directory entries.
///
/// The spares made at startup cover a storm of `target` starts; they are made again a few at a
/// time once starts have used some. Spares outlive a restart (they are reused) and cost an
/// inode each.
final class SpareFiles: Sendable {
    let directory: String
    let target: Int
    /// Spares ready, by file name.
    private let names: NIOLockedValueBox<[String]>
    /// Whether a refill is under way (only one at a time).
    private let refilling = NIOLockedValueBox(false)
    private let nextName = NIOLockedValueBox(0)

    /// Creates `directory` and keeps the spares a previous run left; then makes the rest up to
    /// `target`. Blocking: call it at startup.
    init(directory: String, target: Int) throws {
        self.directory = directory
        self.target = target
        guard mkdir(directory, 0o750) == 0 || errno == EEXIST else {
            throw UploadFile.IOError(operation: "mkdir", code: errno)
        }
        let existing = Self.list(directory)
        self.names = NIOLockedValueBox(existing)
        self.nextName.withLockedValue { $0 = (existing.compactMap { Int($0) }.max() ?? 0) + 1 }
        self.make(upTo: target)
    }

    /// Opens a new, empty file at `path`, read-write: a spare renamed there, or (none left) a
    /// file created. Blocking.
    func create(at path: String) throws -> Int32 {
        while let name = self.names.withLockedValue({ $0.popLast() }) {
            if rename(self.directory + "/" + name, path) == 0 {
                let fd = open(path, O_RDWR | O_CLOEXEC)
                guard fd >= 0 else { throw UploadFile.IOError(operation: "open", code: errno) }
                return fd
            }
            // Gone (removed by hand), or `recordings/` is on another file system: try the next.
        }
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw UploadFile.IOError(operation: "open", code: errno) }
        return fd
    }

    /// Whether the caller should run `refill(on:)` now: fewer than half the spares are left,
    /// and no refill is under way.
    func claimRefill() -> Bool {
        guard self.count < self.target / 2 else { return false }
        return self.refilling.withLockedValue { refilling in
            defer { refilling = true }
            return !refilling
        }
    }

    /// Makes spares up to `target`, `batch` at a time on `thread` with a pause before each
    /// batch, so that the starts go first: the first pause lets a storm of them pass (making
    /// spares during one costs what creating the files would).
    func refill(
        on thread: NIOThreadPool,
        after delay: Duration = .seconds(1),
        batch: Int = 8,
        pause: Duration = .milliseconds(250)
    ) async {
        defer { self.refilling.withLockedValue { $0 = false } }
        // The pauses end early at shutdown, which then does not wait for the refill.
        guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: delay) })) != nil else { return }
        while self.count < self.target {
            let goal = min(self.target, self.count + batch)
            // None made: a full disk (a start then creates its file itself).
            guard let made = try? await thread.runIfActive({ self.make(upTo: goal) }), made > 0,
                (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: pause) })) != nil
            else { return }
        }
    }

    /// How many spares are ready.
    var count: Int { self.names.withLockedValue { $0.count } }

    /// Creates spares until `count` are ready (or one cannot be made: a full disk), and says
    /// how many it made. Blocking.
    @discardableResult
    private func make(upTo count: Int) -> Int {
        var made = 0
        while self.names.withLockedValue({ $0.count }) < count {
            let number = self.nextName.withLockedValue { next in
                defer { next += 1 }
                return next
            }
            let name = String(number)
            let fd = open(self.directory + "/" + name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else { return made }
            close(fd)
            self.names.withLockedValue { $0.append(name) }
            made += 1
        }
        return made
    }

    /// The spares in `directory`: empty regular files with a number for a name.
    private static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            var status = stat()
            guard Int(name) != nil, stat(directory + "/" + name, &status) == 0,
                (status.st_mode & S_IFMT) == S_IFREG, status.st_size == 0
            else { continue }
            names.append(name)
        }
        return names
    }
}
