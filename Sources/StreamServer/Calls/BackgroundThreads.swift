import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// SCHED_IDLE (linux/sched.h), not exported by the Glibc module.
private let schedIdle: Int32 = 5

/// Threads at a lower CPU priority for work that can wait, so that it yields the cores to the
/// event loops when they are busy.
enum BackgroundThreads {
    static let niceness: Int32 = 10

    /// Finishing a live recording (fsync, then the whole file read back for its SHA-256), at
    /// nice 10. When many calls end at once (1,000 in the session benchmark: 1.9 GB to hash),
    /// that work queues here instead of taking both cores from the event loops while other
    /// calls still stream.
    static let files = Self.thread(.nice(Self.niceness))

    /// Live transcript segments' batched inserts, under SCHED_IDLE: any other thread that wants
    /// the CPU takes it at once. GRDB's synchronous `write` runs its block on the calling thread
    /// (a `DispatchQueue.sync`), so the SQLite work of a batch (at 1,000 sessions, 10,000 rows
    /// and their full-text index every second: 80–200 ms of CPU) runs here. On GRDB's own queue
    /// those bursts were most of load (a)'s latency tail; at nice 10 or 19 they still were in
    /// about half the runs (p99 9.5 ms at nice 19, 2–5 ms under SCHED_IDLE).
    /// Progress is still guaranteed (the kernel gives SCHED_IDLE a small weight, not none); the
    /// batch holds the database's write lock meanwhile, which only a saturated machine makes long.
    static let segments = Self.thread(.idle)

    private enum Priority {
        case nice(Int32)
        case idle
    }

    private static func thread(_ priority: Priority) -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // A thread's nice value and policy are its own on Linux: the pool's only thread keeps them.
        pool.submit { _ in
            switch priority {
            case .nice(let niceness):
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            case .idle:
                var parameters = sched_param(sched_priority: 0)
                _ = sched_setscheduler(0, schedIdle, &parameters)
            }
        }
        return pool
    }
}
