/// Server → worker: analyse one recording file (duration, silences, opening transcription).
public struct AnalysisJob: Equatable, Sendable {
    /// Chosen by the server; the answer carries it back.
    public var jobID: UInt64
    /// Named in the mock engine's transcription.
    public var recordingID: String
    public var path: String
    public var minSilenceMs: UInt32
    public var silenceThresholdDBFS: Double
    /// How much of the opening to transcribe.
    public var transcribeSeconds: UInt32
    /// Also transcode the recording for permanent storage (`--archive-format mp3`).
    public var archive: ArchiveRequest?

    public init(
        jobID: UInt64,
        recordingID: String,
        path: String,
        minSilenceMs: UInt32,
        silenceThresholdDBFS: Double,
        transcribeSeconds: UInt32,
        archive: ArchiveRequest? = nil
    ) {
        self.jobID = jobID
        self.recordingID = recordingID
        self.path = path
        self.minSilenceMs = minSilenceMs
        self.silenceThresholdDBFS = silenceThresholdDBFS
        self.transcribeSeconds = transcribeSeconds
        self.archive = archive
    }
}

/// Server → worker: write the recording as MP3 at `path` (through `path.part`, renamed once
/// whole and synced, so a crash never leaves half a file under the final name).
public struct ArchiveRequest: Equatable, Sendable {
    public var path: String
    public var bitrateKbps: UInt32

    public init(path: String, bitrateKbps: UInt32) {
        self.path = path
        self.bitrateKbps = bitrateKbps
    }
}

/// Worker → server: the archive written.
public struct ArchiveResult: Equatable, Sendable {
    public var sizeBytes: Int64
    public var sha256: String

    public init(sizeBytes: Int64, sha256: String) {
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
    }
}

/// Worker → server: what an analysis found.
public struct AnalysisResult: Equatable, Sendable {
    public struct Span: Equatable, Sendable {
        public var startMs: UInt32
        public var endMs: UInt32

        public init(startMs: UInt32, endMs: UInt32) {
            self.startMs = startMs
            self.endMs = endMs
        }
    }

    /// Seconds the worker spent in each stage (for the server's metrics).
    public struct Timings: Equatable, Sendable {
        public var decode: Double
        public var silence: Double
        public var transcribe: Double

        public init(decode: Double = 0, silence: Double = 0, transcribe: Double = 0) {
            self.decode = decode
            self.silence = silence
            self.transcribe = transcribe
        }
    }

    public var durationSec: Double
    public var silences: [Span]
    /// The opening's text (`transcribeSeconds` of it).
    public var transcription: String
    /// With a real engine, the whole recording's segments, per channel, in time order; empty
    /// with the mock engine.
    public var segments: [RecognizedSegment]
    public var timings: Timings
    /// The permanent copy, when the job asked for one.
    public var archive: ArchiveResult?

    public init(
        durationSec: Double,
        silences: [Span],
        transcription: String,
        segments: [RecognizedSegment] = [],
        timings: Timings = Timings(),
        archive: ArchiveResult? = nil
    ) {
        self.durationSec = durationSec
        self.silences = silences
        self.transcription = transcription
        self.segments = segments
        self.timings = timings
        self.archive = archive
    }
}
