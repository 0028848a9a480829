import ArgumentParser
import Foundation
import NIOCore
import Protocol
import SpeechRecognition

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

    @Option(help: "Transcription engine: mock, moonshine, pocketsphinx or hybrid.")
    var engine: EngineChoice = .mock

    @Option(help: "The moonshine-cpp wheel's moonshine_cpp folder (its libonnxruntime.so and models/base-en).")
    var moonshineDir = "./.venv/moonshine"

    @Option(help: "The pocketsphinx model folder (en-us/, en-us.lm.bin, cmudict-en-us.dict).")
    var pocketsphinxModel = PocketSphinxDecoder.defaultModelDirectory

    @Flag(help: "Load the engine, print what is missing if it cannot, and exit.")
    var check = false

    @Option(help: "Mock engine: simulated processing time per chunk, in milliseconds.")
    var mockLatencyMs: Int = 0

    @Option(help: "Analyse this recording (WAV or MP3), print the result as JSON and exit; no pipe protocol.")
    var analyse: String?

    @Option(help: "With --analyse: shortest silence in milliseconds.")
    var minSilenceMs: UInt32 = 500

    @Option(help: "With --analyse: silence threshold in dBFS.")
    var silenceThresholdDb: Double = -40

    func run() throws {
        // A server that has gone must be an error on write (the worker then exits), not a signal.
        signal(SIGPIPE, SIG_IGN)
        let models: SpeechModels?
        do {
            models =
                self.engine == .mock
                ? nil
                : try SpeechModels(
                    choice: self.engine,
                    moonshineDirectory: self.moonshineDir,
                    pocketSphinxModel: self.pocketsphinxModel,
                    check: self.check
                )
        } catch {
            PipeIO.log("engine \(self.engine.rawValue) cannot start: \(error)")
            throw ExitCode(3)
        }
        if self.check { return }
        let analyzer = RecordingAnalyzer(transcriber: MockRecordingTranscriber(), recognizer: models.map { RecordingRecognizer(models: $0) })
        if let path = self.analyse {
            try self.analyseOnce(path, analyzer: analyzer)
            return
        }
        // The server drives shutdown; a Ctrl-C on the terminal must not kill us mid-batch.
        signal(SIGINT, SIG_IGN)
        do {
            if let models {
                let output = WorkerOutput()
                let decoders = DecoderPool(models: models)
                let finals = FinalDecoder(models: models, decoders: decoders, output: output)
                var loop = WorkerLoop(
                    engine: RealEngine(models: models, finals: finals, decoders: decoders),
                    analyzer: analyzer,
                    output: output,
                    finals: finals
                )
                try loop.run()
            } else {
                var loop = WorkerLoop(engine: MockEngine(latency: .milliseconds(self.mockLatencyMs)), analyzer: analyzer, output: WorkerOutput())
                try loop.run()
            }
        } catch {
            PipeIO.log("stopping: \(error)")
            throw ExitCode(2)
        }
    }

    private func analyseOnce(_ path: String, analyzer: RecordingAnalyzer) throws {
        let job = AnalysisJob(
            jobID: 0,
            recordingID: "cli",
            path: path,
            minSilenceMs: self.minSilenceMs,
            silenceThresholdDBFS: self.silenceThresholdDb,
            transcribeSeconds: 20
        )
        let started = ContinuousClock.now
        let result = try analyzer.analyse(job)
        let seconds = (ContinuousClock.now - started).seconds
        let marks = result.silences.map { "[\($0.startMs),\($0.endMs)]" }.joined(separator: ",")
        let segments = result.segments.map {
            #"{"channel":\#($0.channel),"start_ms":\#($0.startMs),"end_ms":\#($0.endMs),"text":\#(jsonString($0.text))}"#
        }
        print(
            #"{"duration_sec":\#(result.durationSec),"silence_ms":[\#(marks)],"transcription":\#(jsonString(result.transcription)),"segments":[\#(segments.joined(separator: ","))],"analysis_seconds":\#(seconds)}"#
        )
    }
}

private func jsonString(_ text: String) -> String {
    var buffer = ByteBuffer()
    buffer.writeJSONString(text)
    return String(buffer: buffer)
}
