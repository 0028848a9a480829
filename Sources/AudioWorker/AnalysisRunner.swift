import Foundation
import NIOCore
import Protocol

/// Runs analysis jobs on a thread of their own, one at a time in arrival order, so that a
/// long recording never holds up live chunks on the main loop, and at background priority:
/// when the cores are busy, live chunks go first. Answers go to `output`'s writer thread.
final class AnalysisRunner: @unchecked Sendable {
    private let analyzer: RecordingAnalyzer
    private let output: WorkerOutput
    private let counters: WorkerCounters
    private let condition = NSCondition()
    private var queue: [AnalysisJob] = []
    private var busy = false
    private var closing = false

    init(analyzer: RecordingAnalyzer, output: WorkerOutput, counters: WorkerCounters) {
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
        BackgroundPriority.lowerCurrentThread()
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
            self.output.send(frame)

            self.condition.lock()
            self.busy = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
