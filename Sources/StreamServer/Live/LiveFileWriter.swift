import Foundation
import NIOConcurrencyHelpers
import ThreadScheduling

/// The thread that writes live sessions' files: their recordings' batches and their transcript
/// feeds' batches, in the order they were handed over (so each file's batches land in order).
/// It wakes for the first batch after a quiet spell, then takes whatever has gathered every
/// `interval`.
///
/// Why one thread that waits: at 1,000 sessions about 4,500 batches a second fill up. Written
/// on a thread pool, each cost two wake-ups (the pool's thread, then the event loop to hear it
/// was done): 9,000 a second, about a tenth of the server's CPU. Waking every 5 ms, the thread
/// writes some twenty batches a wake, and nothing hops back to an event loop.
final class LiveFileWriter: Sendable {
    static let shared = LiveFileWriter(interval: 5_000)

    /// Whether jobs are waiting, and the jobs.
    private let queue = ConditionLock(value: false)
    private let jobs = NIOLockedValueBox<[@Sendable () -> Void]>([])

    /// `interval`: microseconds between takes while busy.
    private init(interval: UInt32) {
        Thread { [self] in
            // Named from inside: a new thread otherwise keeps its creator's name (an event
            // loop's), and `top -H` or `perf` would count it as one.
            CurrentThread.setName("live-files")
            self.run(interval: interval)
        }.start()
    }

    /// Runs `job` on the writer thread after every job handed over before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        self.queue.lock()
        self.jobs.withLockedValue { $0.append(job) }
        self.queue.unlock(withValue: true)
    }

    /// Returns once every job handed over so far has run.
    func drain() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            self.submit { done.resume() }
        }
    }

    private func run(interval: UInt32) {
        while true {
            self.queue.lock(whenValue: true)
            let taken = self.jobs.withLockedValue { jobs in
                defer { jobs = [] }
                return jobs
            }
            self.queue.unlock(withValue: false)
            for job in taken { job() }
            usleep(interval)
        }
    }
}
