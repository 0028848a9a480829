import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Protocol
import ThreadScheduling

/// The worker's counters, added to once per batch of frames (not once per chunk) and read by
/// the stats reporter.
final class WorkerCounters: Sendable {
    struct Values: Sendable {
        var chunks: UInt64 = 0
        var chunkErrors: UInt64 = 0
        var analyses: UInt64 = 0
    }

    private let values = NIOLockedValueBox(Values())

    func add(chunks: UInt64, errors: UInt64) {
        guard chunks > 0 || errors > 0 else { return }
        self.values.withLockedValue {
            $0.chunks += chunks
            $0.chunkErrors += errors
        }
    }

    func addAnalysis() {
        self.values.withLockedValue { $0.analyses += 1 }
    }

    var snapshot: Values { self.values.withLockedValue { $0 } }
}

/// Sends a `stats` frame every `interval` on a thread of its own (at normal priority). Stops
/// at the first failed write (the server has gone).
enum StatsReporter {
    static func start(counters: WorkerCounters, finals: FinalDecoder?, output: WorkerOutput, interval: Duration = .seconds(1)) {
        let thread = Thread {
            CurrentThread.setName("stats")
            while true {
                Thread.sleep(forTimeInterval: interval.seconds)
                let values = counters.snapshot
                let backlog = finals?.backlog ?? (segments: 0, seconds: 0)
                let process = ProcessStats.current()
                let stats = WorkerStats(
                    process: process,
                    chunks: values.chunks,
                    chunkErrors: values.chunkErrors,
                    analyses: values.analyses,
                    segmentsQueued: UInt32(clamping: backlog.segments),
                    secondsQueued: backlog.seconds
                )
                var frame = ByteBuffer()
                frame.writePipeFrame(.stats(stats))
                if (try? output.write(&frame)) == nil { return }
            }
        }
        thread.start()
    }
}
