import AudioCodecs
import NIOCore
import Protocol
import ThreadScheduling

/// The worker's whole life: announce itself, then read frames, answer each chunk in order,
/// and write every answer of one read in a single batch.
struct WorkerLoop<Engine: TranscriptionEngine> {
    var engine: Engine
    var decoder = PipeFrameDecoder()
    var sessions = SessionDecoders()
    /// Stdout, shared with the analysis, finals and stats threads.
    let output: WorkerOutput
    let analyses: AnalysisRunner
    let counters = WorkerCounters()
    /// This batch's answers, added to `counters` once the batch is written.
    private var batchChunks: UInt64 = 0
    private var batchErrors: UInt64 = 0

    /// A real engine's decoding thread: finals it owes are written before the worker exits.
    let finals: FinalDecoder?

    init(engine: Engine, analyzer: RecordingAnalyzer, output: WorkerOutput, finals: FinalDecoder? = nil) {
        self.engine = engine
        self.output = output
        self.finals = finals
        self.analyses = AnalysisRunner(analyzer: analyzer, output: output, counters: self.counters)
    }

    /// Returns when the server sends `shutdown` or closes the pipe.
    mutating func run() throws {
        // This thread reads every chunk and writes its answer: the live path.
        CurrentThread.requestShortSlice()
        var output = ByteBuffer()
        output.writePipeFrame(.ready(engine: self.engine.name))
        try self.write(&output)
        StatsReporter.start(counters: self.counters, finals: self.finals, output: self.output)
        // Owed analyses are answered before the worker exits (on shutdown or end of input).
        defer {
            self.finals?.finish()
            self.analyses.finish()
            self.output.finish()
        }

        var input = ByteBuffer()
        input.reserveCapacity(1 << 20)
        while true {
            input.clear()
            guard try PipeIO.read(into: &input, capacity: 1 << 20) != nil else { return }
            self.decoder.append(input)
            var stop = false
            while !stop, let frame = try self.decoder.next() {
                stop = self.handle(frame, output: &output)
            }
            try self.write(&output)
            self.counters.add(chunks: self.batchChunks, errors: self.batchErrors)
            (self.batchChunks, self.batchErrors) = (0, 0)
            if stop { return }
        }
    }

    private func write(_ output: inout ByteBuffer) throws {
        try self.output.write(&output)
    }

    /// Handles one frame; returns true when the worker should stop.
    private mutating func handle(_ frame: PipeFrame, output: inout ByteBuffer) -> Bool {
        switch frame {
        case .chunk(let clientID, let seq, let audio):
            self.count(self.transcribe(clientID: clientID, seq: seq, audio: audio, output: &output))
            return false
        case .sessionChunk(let clientID, let seq, let format, let audio):
            self.count(self.decode(clientID: clientID, seq: seq, format: format, audio: audio, output: &output))
            return false
        default:
            return self.handleOther(frame, output: &output)
        }
    }

    private mutating func count(_ answered: Bool) {
        self.batchChunks += 1
        if !answered { self.batchErrors += 1 }
    }

    /// A plain chunk: its transcript, or an error frame (returns false).
    private mutating func transcribe(clientID: UInt64, seq: UInt64, audio: ByteBuffer, output: inout ByteBuffer) -> Bool {
        do {
            let text = try self.engine.transcribe(clientID: clientID, seq: seq, audio: audio)
            output.writeResultFrame(clientID: clientID, seq: seq, text: text)
            return true
        } catch {
            output.writePipeFrame(.error(clientID: clientID, seq: seq, code: "transcription_failed", message: "\(error)"))
            return false
        }
    }

    /// A session chunk: its transcript and decoded audio, or an error frame (returns false).
    private mutating func decode(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: ByteBuffer, output: inout ByteBuffer) -> Bool {
        var pcm = ByteBuffer()
        do {
            try self.sessions.decode(clientID: clientID, format: format, audio: audio, into: &pcm)
        } catch {
            output.writePipeFrame(.error(clientID: clientID, seq: seq, code: error.code, message: error.message))
            return false
        }
        let text: String
        do {
            // A pcm_s16le chunk is its own PCM (the worker sends no copy back).
            let samples = format.codec == .pcmS16LE ? audio : pcm
            text = try self.engine.transcribe(clientID: clientID, seq: seq, format: format, audio: audio, pcm: samples)
        } catch {
            output.writePipeFrame(.error(clientID: clientID, seq: seq, code: "transcription_failed", message: "\(error)"))
            return false
        }
        output.writeDecodedFrame(clientID: clientID, seq: seq, text: text, pcm: &pcm)
        return true
    }

    private mutating func handleOther(_ frame: PipeFrame, output: inout ByteBuffer) -> Bool {
        switch frame {
        case .endSession(let clientID):
            self.sessions.end(clientID: clientID)
            self.engine.endSession(clientID: clientID, output: &output)
            return false
        case .shutdown:
            return true
        case .heartbeat:
            // Answered here, behind the chunks read before it: a hung engine answers none.
            output.writePipeFrame(frame)
            return false
        case .analyse(let job):
            self.analyses.submit(job)
            return false
        case .chunk, .sessionChunk, .result, .error, .ready, .analysis, .analysisFailed, .decoded, .stats, .final, .sessionEnded:
            PipeIO.log("ignoring unexpected \(frame.kind) frame")
            return false
        }
    }
}
