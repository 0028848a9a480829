import ArgumentParser

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

    func run() throws {
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
