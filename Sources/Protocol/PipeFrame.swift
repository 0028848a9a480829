import NIOCore

/// One message on a worker's stdin/stdout pipe.
///
/// Wire layout (little-endian): `[u32 length][u8 version][u8 kind][payload]`, where `length`
/// counts the version, kind and payload bytes. Audio travels as raw bytes: it is never
/// base64'd or JSON-encoded on this path.
public enum PipeFrame: Equatable, Sendable {
    /// Server → worker: one audio chunk of a live stream.
    case chunk(clientID: UInt64, seq: UInt64, audio: ByteBuffer)
    /// Worker → server: the transcription of one chunk.
    case result(clientID: UInt64, seq: UInt64, text: String)
    /// Worker → server: a chunk that could not be processed.
    case error(clientID: UInt64, seq: UInt64, code: String, message: String)
    /// Worker → server, once at start: the worker is up and speaks this protocol version.
    case ready(engine: String)
    /// Server → worker: finish what you have, then exit.
    case shutdown
    /// Server → worker: analyse a recording file.
    case analyse(AnalysisJob)
    /// Worker → server: the analysis of job `jobID`.
    case analysis(jobID: UInt64, result: AnalysisResult)
    /// Worker → server: job `jobID`'s file could not be analysed (not decodable, unreadable).
    case analysisFailed(jobID: UInt64, message: String)
    /// Server → worker: one chunk of a started live session, to be decoded from `format`.
    case sessionChunk(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: ByteBuffer)
    /// Worker → server: a session chunk's transcription and its audio as 16-bit
    /// little-endian interleaved PCM (at the session's rate and channels). Empty for a
    /// `pcm_s16le` chunk: it is PCM already, and the server keeps the chunk until answered.
    case decoded(clientID: UInt64, seq: UInt64, text: String, pcm: ByteBuffer)
    /// Server → worker: the session's audio is over: close its open segments, send their
    /// finals and then `sessionEnded`, and drop its decoder state.
    case endSession(clientID: UInt64)
    /// Worker → server, every second: the worker's own process figures and counters, so the
    /// server's `/metrics` covers the whole process tree.
    case stats(WorkerStats)
    /// Server → worker, and back: answered by the worker's main loop when it gets there, so a
    /// worker hung on a chunk stops answering, and the server kills it (`--worker-timeout`).
    case heartbeat(id: UInt64)
    /// Worker → server: a live session's segment closed and was decoded (real engines only).
    case final(LiveFinal)
    /// Worker → server: the answer to `endSession`, after every final of that session.
    case sessionEnded(clientID: UInt64)

    /// The protocol version every frame carries; a decoder rejects any other.
    public static let version: UInt8 = 1
    /// Bytes before the payload: length (4), version (1), kind (1).
    public static let headerSize = 6

    public enum Kind: UInt8, Sendable {
        case chunk = 1
        case result = 2
        case error = 3
        case ready = 4
        case shutdown = 5
        case analyse = 6
        case analysis = 7
        case analysisFailed = 8
        case sessionChunk = 9
        case decoded = 10
        case endSession = 11
        case stats = 12
        case heartbeat = 13
        case final = 14
        case sessionEnded = 15
    }

    public var kind: Kind {
        switch self {
        case .chunk: .chunk
        case .result: .result
        case .error: .error
        case .ready: .ready
        case .shutdown: .shutdown
        case .analyse: .analyse
        case .analysis: .analysis
        case .analysisFailed: .analysisFailed
        case .sessionChunk: .sessionChunk
        case .decoded: .decoded
        case .endSession: .endSession
        case .stats: .stats
        case .heartbeat: .heartbeat
        case .final: .final
        case .sessionEnded: .sessionEnded
        }
    }
}
