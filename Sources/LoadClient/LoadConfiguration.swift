import NIOSSL

/// What one load-client run does.
struct LoadConfiguration: Sendable {
    var host: String
    var port: Int
    var path: String
    var clients: Int
    var messages: Int
    /// Milliseconds between chunks on each connection; 0 = as fast as the window allows.
    var rateMs: Double
    var chunkBytes: Int
    /// Chunks a connection may have awaiting transcripts (rate 0 only).
    var inFlight: Int
    /// Seconds to hold every connection open once all are connected (idle tests).
    var holdSeconds: Double
    /// Seconds to wait for outstanding acks and transcripts after the last chunk is sent.
    var timeoutSeconds: Double
    var connectParallelism: Int
    var checkMockText: Bool
    /// `--expect-text`: the reference text the finals are scored against (WER).
    var expectedText: String?
    /// Started sessions (`--wav`): chunk length, `stop` at the end, drop-and-resume period.
    var chunkMs = 100
    var stop = false
    var dropAfterSeconds: Double = 0
    var record = true
    /// Offer permessage-deflate and use it (plain streams).
    var compression = false
    /// `wss://`: the TLS context every connection shares.
    var tls: NIOSSLContext?
    /// Sent with every upgrade (`Authorization` for `--token`).
    var headers: [(String, String)] = []
    /// The live line on a terminal; nil otherwise.
    var progress: LiveProgress?
    /// `--latency-log`: every reply's send time and latency are kept for the log.
    var logsReplies = false
}
