import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// One thread, at a lower CPU priority (nice 10), for file work that can wait: finishing a
/// live recording (fsync, then the whole file read back for its SHA-256). When many calls end
/// at once (1,000 in the session benchmark: 1.9 GB to hash), that work queues here instead of
/// taking both cores from the event loops while other calls are still streaming.
enum BackgroundFiles {
    static let niceness: Int32 = 10

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // A nice value is per thread on Linux: the pool's only thread keeps it for good.
        pool.submit { _ in _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness) }
        return pool
    }()
}
