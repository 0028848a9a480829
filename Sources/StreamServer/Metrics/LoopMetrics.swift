import NIOCore

/// The per-chunk figures of one event loop: plain counters and latency histograms, touched only
/// on that loop (no lock, no atomic on the chunk path) and summed over the loops at scrape time.
final class LoopMetrics: @unchecked Sendable {
    // @unchecked: every field is read and written on `eventLoop` only; `snapshot` hops there.
    struct Counts: Sendable {
        var chunks: UInt64 = 0
        var chunkBytes: UInt64 = 0
        var transcripts: UInt64 = 0
        var errors: UInt64 = 0
        var ackLatency = LatencyHistogram()
        var transcriptLatency = LatencyHistogram()

        mutating func add(_ other: Counts) {
            self.chunks += other.chunks
            self.chunkBytes += other.chunkBytes
            self.transcripts += other.transcripts
            self.errors += other.errors
            self.ackLatency.add(other.ackLatency)
            self.transcriptLatency.add(other.transcriptLatency)
        }
    }

    let eventLoop: any EventLoop
    var counts = Counts()

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func snapshot() -> EventLoopFuture<Counts> {
        self.eventLoop.submit { self.counts }
    }
}

/// A latency histogram with fixed bucket bounds, counted in nanoseconds.
struct LatencyHistogram: Sendable {
    /// Upper bounds in seconds (Prometheus `le`), from 0.5 ms to 10 s.
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private static let boundsNanoseconds: [Int64] = bounds.map { Int64($0 * 1e9) }

    /// Observations per bucket (not cumulative); the last slot is above the highest bound.
    private(set) var buckets = [UInt64](repeating: 0, count: bounds.count + 1)
    private(set) var sumNanoseconds: Int64 = 0
    private(set) var count: UInt64 = 0

    mutating func record(nanoseconds: Int64) {
        var index = 0
        while index < Self.boundsNanoseconds.count, nanoseconds > Self.boundsNanoseconds[index] {
            index += 1
        }
        self.buckets[index] += 1
        self.sumNanoseconds += nanoseconds
        self.count += 1
    }

    mutating func add(_ other: LatencyHistogram) {
        for index in self.buckets.indices { self.buckets[index] += other.buckets[index] }
        self.sumNanoseconds += other.sumNanoseconds
        self.count += other.count
    }

    /// The histogram's lines in the Prometheus text format.
    func render(name: String, help: String, into text: inout String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative: UInt64 = 0
        for (index, bound) in Self.bounds.enumerated() {
            cumulative += self.buckets[index]
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        text += "\(name)_bucket{le=\"+Inf\"} \(self.count)\n"
        text += "\(name)_sum \(Double(self.sumNanoseconds) / 1e9)\n"
        text += "\(name)_count \(self.count)\n"
    }
}
