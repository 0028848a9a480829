import NIOCore
import Protocol

/// What a worker answered for one chunk, on its way to the chunk's connection.
struct WorkerResult: Sendable {
    enum Outcome: Sendable {
        case transcript(String)
        /// A started session's chunk: its text and its audio as 16-bit PCM.
        case decoded(text: String, pcm: ByteBuffer)
        case failed(code: String, message: String)
        /// Not an answer: a session's closed segment, decoded (`seq` is its last chunk's).
        case final(LiveFinal)
        /// Not an answer: the worker has sent every final of the session (after `endSession`).
        case sessionEnded
    }

    let clientID: UInt64
    let seq: UInt64
    let outcome: Outcome

    /// Whether this answers a chunk (finals and `sessionEnded` do not).
    var isAnswer: Bool {
        switch self.outcome {
        case .transcript, .decoded, .failed: true
        case .final, .sessionEnded: false
        }
    }
}

/// Where results go: the live-stream hub. A protocol so the pool does not know about sockets.
protocol WorkerResultSink: Sendable {
    /// Called on the worker's event loop with every result decoded from one read, in order.
    func deliver(_ results: [WorkerResult])
}

/// Where analysis answers go: the recording analyses. Called on a worker's event loop.
protocol AnalysisResultSink: Sendable {
    func finished(_ job: AnalysisJob, outcome: Result<AnalysisResult, AnalysisFailure>)
    /// The worker died with these jobs outstanding: it crashed, or it was killed because
    /// its analyses stopped making progress (`stalled`).
    func lost(_ jobs: [AnalysisJob], stalled: Bool)
}

struct AnalysisFailure: Error, Sendable {
    let message: String
}
