import Foundation
import NIOCore
import Protocol

#if canImport(Glibc)
    import Glibc
#endif

/// Turns one chunk of a live stream into text. Engines may keep per-stream state: a stream's
/// chunks all reach the same worker, in seq order.
protocol TranscriptionEngine {
    var name: String { get }
    mutating func transcribe(clientID: UInt64, seq: UInt64, audio: ByteBuffer) throws -> String
}

/// The default engine: a deterministic text naming the chunk, as the original service did.
struct MockEngine: TranscriptionEngine {
    /// Simulated processing time per chunk (a real engine is not instant).
    var latency: Duration = .zero
    /// Fault injection for the server's hang handling tests: with
    /// `CALLSTREAM_WORKER_HANG_ON_CHUNK_BYTES=<n>` a chunk of exactly n bytes never finishes.
    var hangBytes = ProcessInfo.processInfo.environment["CALLSTREAM_WORKER_HANG_ON_CHUNK_BYTES"].flatMap(Int.init)

    var name: String { "mock" }

    func transcribe(clientID: UInt64, seq: UInt64, audio: ByteBuffer) throws -> String {
        if audio.readableBytes == self.hangBytes {
            while true { sleepFor(.seconds(3600)) }
        }
        if self.latency > .zero {
            sleepFor(self.latency)
        }
        return MockTranscript.text(clientID: clientID, seq: seq, byteCount: audio.readableBytes)
    }
}

private func sleepFor(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR {
        request = remaining
    }
}
