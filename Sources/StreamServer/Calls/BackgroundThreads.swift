import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Threads at a lower CPU priority (nice 10) for work that can wait, so that it yields the
/// cores to the event loops when both are busy.
enum BackgroundThreads {
    static let niceness: Int32 = 10

    /// Finishing a live recording (fsync, then the whole file read back for its SHA-256). When
    /// many calls end at once (1,000 in the session benchmark: 1.9 GB to hash), that work
    /// queues here instead of taking both cores from the event loops while other calls still
    /// stream.
    static let files = Self.lowPriorityThread()

    /// Live transcript segments' batched inserts. GRDB's synchronous `write` runs its block on
    /// the calling thread (a `DispatchQueue.sync`), so the SQLite work of a batch (10,000 rows
    /// and their full-text index every second at 1,000 sessions, 80–200 ms of CPU) runs at this
    /// priority; on GRDB's own queue its bursts were most of load (a)'s latency tail.
    static let segments = Self.lowPriorityThread()

    private static func lowPriorityThread() -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // A nice value is per thread on Linux: the pool's only thread keeps it for good.
        pool.submit { _ in _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness) }
        return pool
    }
}
