import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Protocol

/// Runs analysis jobs on a thread of their own, one at a time in arrival order, so that a
/// long recording never holds up live chunks on the main loop. Answers go to stdout through
/// `output`, the lock shared with the main loop.
final class AnalysisRunner: @unchecked Sendable {
    private let analyzer: RecordingAnalyzer
    private let output: NIOLock
    private let counters: WorkerCounters
    private let condition = NSCondition()
    private var queue: [AnalysisJob] = []
    private var busy = false
    private var closing = false

    init(analyzer: RecordingAnalyzer, output: NIOLock, counters: WorkerCounters) {
        self.analyzer = analyzer
        self.output = output
        self.counters = counters
        let thread = Thread { [self] in self.loop() }
        thread.name = "analysis"
        thread.start()
    }

    func submit(_ job: AnalysisJob) {
        self.condition.lock()
        self.queue.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    /// Returns once every submitted job has been answered.
    func finish() {
        self.condition.lock()
        self.closing = true
        self.condition.broadcast()
        while self.busy || !self.queue.isEmpty {
            self.condition.wait()
        }
        self.condition.unlock()
    }

    private func loop() {
        // A real engine's whole-recording transcription is background work: live chunks go
        // first. (The mock's analyses are light and stay at normal priority.)
        if self.analyzer.recognizer != nil { BackgroundPriority.lowerCurrentThread() }
        while true {
            self.condition.lock()
            while self.queue.isEmpty {
                if self.closing {
                    self.condition.unlock()
                    return
                }
                self.condition.wait()
            }
            let job = self.queue.removeFirst()
            self.busy = true
            self.condition.unlock()

            var frame = ByteBuffer()
            do {
                frame.writePipeFrame(.analysis(jobID: job.jobID, result: try self.analyzer.analyse(job)))
            } catch {
                frame.writePipeFrame(.analysisFailed(jobID: job.jobID, message: "\(error)"))
            }
            self.counters.addAnalysis()
            self.output.withLock {
                do {
                    try PipeIO.writeAll(&frame)
                } catch {
                    PipeIO.log("cannot write an analysis: \(error)")
                }
            }

            self.condition.lock()
            self.busy = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
