import NIOPosix
import ThreadScheduling

/// Threads at a lower CPU priority for work that can wait, so that it yields the cores to the
/// event loops when they are busy.
enum BackgroundThreads {
    /// Finishing a live recording (fsync, then the whole file read back for its SHA-256), at
    /// nice 10. When many calls end at once (1,000 in the session benchmark: 1.9 GB to hash),
    /// that work queues here instead of taking both cores from the event loops while other
    /// calls still stream.
    static let files = Self.thread(named: "finish-files", niceness: 10)

    /// Creating a live session's WAV file, at nice 10: one thread, because creations in one
    /// directory only contend for its lock (two threads spun on it).
    static let sessionFiles = Self.thread(named: "session-files", niceness: 10)

    /// Live transcript segments' batched inserts, at nice 19. GRDB's synchronous `write` runs
    /// its block on the calling thread (a `DispatchQueue.sync`), so the SQLite work of a batch
    /// (at 1,000 sessions, 10,000 rows and their full-text index every second: 80–200 ms of
    /// CPU) runs here. On GRDB's own queue those bursts were most of load (a)'s latency tail.
    /// Not SCHED_IDLE, though it measured a little better: the batch holds the database's write
    /// lock, and on a saturated machine a SCHED_IDLE thread all but stops, and with it every
    /// other write (the test suite's parallel servers showed it); nice 19 still progresses.
    static let segments = Self.thread(named: "segments", niceness: 19)

    private static func thread(named name: String, niceness: Int32) -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // A nice value is per thread on Linux: the pool's only thread keeps it for good. Named
        // for `top -H` and `perf` (every pool's thread is "TP-#0" otherwise).
        pool.submit { _ in
            CurrentThread.lowerPriority(to: niceness)
            CurrentThread.setName(name)
        }
        return pool
    }
}
