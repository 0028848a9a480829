import CThreadScheduling

#if canImport(Glibc)
    import Glibc
#endif

/// How the calling thread is scheduled on Linux, where a name, a nice value and a scheduler
/// slice are each a thread's own: the server and the worker set them the same way.
public enum CurrentThread {
    /// Names the thread for `top -H` and `perf` (Linux keeps 15 bytes). It must be the thread
    /// itself: Foundation's `Thread.name`, set before `start()`, never reaches the kernel here.
    public static func setName(_ name: String) {
        _ = callstream_set_thread_name(name)
    }

    /// Lowers the thread's CPU priority to `niceness` (threads it starts inherit it).
    public static func lowerPriority(to niceness: Int32) {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }

    /// Asks for the shortest scheduler slice, 0.1 ms, for a thread on the live path (the
    /// server's event loops, the worker's main thread). Linux's EEVDF
    /// scheduler (6.12+) lets a waking thread with a shorter slice preempt the running one;
    /// with the default slice (0.75 ms × (1 + log2 cores)) a loop that wakes for a chunk
    /// while both cores are busy waits for the other thread's slice to run out. The share of
    /// CPU is unchanged: only the waits are shorter. Older kernels accept and ignore it.
    /// Returns whether the call succeeded.
    @discardableResult
    public static func requestShortSlice() -> Bool {
        callstream_request_slice(100_000) == 0
    }
}
