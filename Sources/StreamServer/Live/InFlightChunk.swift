import NIOCore

/// A chunk acked and awaiting its answer: its size (backpressure counts bytes) and when it
/// arrived (the transcript latency metric).
struct InFlightChunk: Sendable {
    let size: Int
    let receivedAt: NIODeadline
}
