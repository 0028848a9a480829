import CProcessSpawn
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

private let spawnLock = NIOLock()
/// F_SETPIPE_SZ (Linux), not exported by the Glibc module.
private let fcntlSetPipeSize: Int32 = 1031

/// A spawned `audio-worker` child: its pid and our ends of its stdin/stdout pipes.
struct WorkerProcess: Sendable {
    let pid: pid_t
    /// Our end of the child's stdin (we write chunks here).
    let stdinWrite: Int32
    /// Our end of the child's stdout (we read results here).
    let stdoutRead: Int32

    struct SpawnError: Error, CustomStringConvertible {
        let what: String
        let errno: Int32
        var description: String { "\(self.what) failed: \(String(cString: strerror(self.errno)))" }
    }

    /// Starts `path` with `arguments`. The child's stderr is ours, so its log lines land in
    /// the server's log. Our pipe ends are close-on-exec so no other child inherits them
    /// (a leaked write end would hide a worker's death from us).
    static func spawn(path: String, arguments: [String]) throws -> WorkerProcess {
        // One spawn at a time: between pipe() and FD_CLOEXEC another spawn could inherit our ends.
        try spawnLock.withLock {
            try spawnLocked(path: path, arguments: arguments)
        }
    }

    private static func spawnLocked(path: String, arguments: [String]) throws -> WorkerProcess {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0 else { throw SpawnError(what: "pipe", errno: errno) }
        guard pipe(&fromChild) == 0 else {
            let saved = errno
            close(toChild[0])
            close(toChild[1])
            throw SpawnError(what: "pipe", errno: saved)
        }
        for fd in toChild + fromChild {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        // Room for a burst of chunks (and their results) per wake-up instead of 64 KiB.
        // Best effort: the kernel caps it at /proc/sys/fs/pipe-max-size.
        _ = fcntl(toChild[1], fcntlSetPipeSize, Int32(1 << 20))
        _ = fcntl(fromChild[0], fcntlSetPipeSize, Int32(1 << 20))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the child's copies.
        posix_spawn_file_actions_adddup2(&actions, toChild[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], STDOUT_FILENO)
        // Nothing else crosses over: an inherited client socket would outlive the server's
        // close of it (NIO's accepted sockets are not close-on-exec).
        callstream_spawn_closefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal handling (we ignore SIGPIPE; it should not).
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = Self.environment().map { strdup($0) } + [nil]
        defer { environment.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, environment)
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw SpawnError(what: "posix_spawn \(path)", errno: status)
        }
        return WorkerProcess(pid: pid, stdinWrite: toChild[1], stdoutRead: fromChild[0])
    }

    /// The server's environment, with Swift's crash backtracer off unless the operator set
    /// `SWIFT_BACKTRACE`. A crash on one of the worker's nice-10 threads (an analysis, a final)
    /// runs the backtracer at that priority: on a busy machine it symbolicated for longer than
    /// the heartbeat timeout, the worker's live sessions frozen meanwhile. Without it the
    /// worker dies at once, and the server logs the crash and replaces it.
    private static func environment() -> [String] {
        var entries: [String] = []
        var next = environ
        while let entry = next.pointee {
            entries.append(String(cString: entry))
            next += 1
        }
        if !entries.contains(where: { $0.hasPrefix("SWIFT_BACKTRACE=") }) { entries.append("SWIFT_BACKTRACE=enable=no") }
        return entries
    }

    /// Reaps the child if it has exited; returns its wait status, or nil while it runs.
    func reapIfExited() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(self.pid, &status, WNOHANG)
        if result == self.pid { return status }
        if result == -1 && errno == ECHILD { return 0 }
        return nil
    }

    func kill(_ signal: Int32) {
        _ = Glibc.kill(self.pid, signal)
    }
}
