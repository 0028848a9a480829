import NIOCore
import Protocol

/// Runs analysis jobs on a thread of their own, one at a time in arrival order, so that a
/// long recording never holds up live chunks on the main loop, and at background priority:
/// when the cores are busy, live chunks go first. Answers go to `output`'s writer thread.
final class AnalysisRunner: Sendable {
    private let thread: SerialThread<AnalysisJob>

    init(analyzer: RecordingAnalyzer, output: WorkerOutput, counters: WorkerCounters) {
        self.thread = SerialThread(name: "analysis", background: true) { job in
            var frame = ByteBuffer()
            do {
                frame.writePipeFrame(.analysis(jobID: job.jobID, result: try analyzer.analyse(job)))
            } catch {
                frame.writePipeFrame(.analysisFailed(jobID: job.jobID, message: "\(error)"))
            }
            counters.addAnalysis()
            output.send(frame)
        }
    }

    func submit(_ job: AnalysisJob) {
        self.thread.submit(job)
    }

    /// Returns once every submitted job has been answered.
    func finish() {
        self.thread.finish()
    }
}
