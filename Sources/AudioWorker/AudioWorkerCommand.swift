import ArgumentParser
import Protocol

#if canImport(Glibc)
    import Glibc
#endif

/// `audio-worker`: a child process of `stream-server`, speaking the pipe protocol on
/// stdin/stdout. Not meant to be run by hand.
@main
struct AudioWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio-worker",
        abstract: "Transcribes audio chunks sent by stream-server over stdin/stdout."
    )

    @Option(help: "Transcription engine (only 'mock' for now).")
    var engine: String = "mock"

    @Option(help: "Mock engine: simulated processing time per chunk, in milliseconds.")
    var mockLatencyMs: Int = 0

    @Option(help: "Analyse this recording (WAV or MP3), print the result as JSON and exit; no pipe protocol.")
    var analyse: String?

    @Option(help: "With --analyse: shortest silence in milliseconds.")
    var minSilenceMs: UInt32 = 500

    @Option(help: "With --analyse: silence threshold in dBFS.")
    var silenceThresholdDb: Double = -40

    func run() throws {
        if let path = self.analyse {
            let job = AnalysisJob(
                jobID: 0,
                recordingID: "cli",
                path: path,
                minSilenceMs: self.minSilenceMs,
                silenceThresholdDBFS: self.silenceThresholdDb,
                transcribeSeconds: 20
            )
            let started = ContinuousClock.now
            let result = try RecordingAnalyzer(transcriber: MockRecordingTranscriber()).analyse(job)
            let seconds = (ContinuousClock.now - started).seconds
            let marks = result.silences.map { "[\($0.startMs),\($0.endMs)]" }.joined(separator: ",")
            print(#"{"duration_sec":\#(result.durationSec),"silence_ms":[\#(marks)],"analysis_seconds":\#(seconds)}"#)
            return
        }
        // The server drives shutdown; a Ctrl-C on the terminal must not kill us mid-batch.
        signal(SIGINT, SIG_IGN)
        guard self.engine == "mock" else {
            throw ValidationError("unknown engine '\(self.engine)'")
        }
        var loop = WorkerLoop(engine: MockEngine(latency: .milliseconds(self.mockLatencyMs)))
        do {
            try loop.run()
        } catch {
            PipeIO.log("stopping: \(error)")
            throw ExitCode(2)
        }
    }
}
