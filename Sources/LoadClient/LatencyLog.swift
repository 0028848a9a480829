import Foundation

/// `--latency-log FILE`: every ack and transcript of the run, one line each —
/// `<sent ns> <0 ack | 1 transcript> <latency µs>`, the send time on the monotonic clock — for
/// finding when in a run the slow replies came (`scripts/latency-tail.py`).
enum LatencyLog {
    static func write(_ outcomes: [StreamClientHandler.Outcome], to path: String) throws {
        var text = "# sent_ns kind(0 ack, 1 transcript) latency_us\n"
        for outcome in outcomes {
            for reply in outcome.replies {
                text += "\(reply.sentNanos) \(reply.isTranscript ? 1 : 0) \(reply.micros)\n"
            }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
