import Foundation
import NIOCore
import Protocol

#if canImport(Glibc)
    import Glibc
#endif

/// Turns live audio into text. Engines may keep per-stream state: a stream's chunks all reach
/// the same worker, in seq order.
protocol TranscriptionEngine {
    var name: String { get }
    /// A plain stream's chunk (no session, no format): its text.
    mutating func transcribe(clientID: UInt64, seq: UInt64, audio: ByteBuffer) throws -> String
    /// A started session's chunk, as sent (`audio`) and as 16-bit interleaved PCM (`pcm`):
    /// the text its transcript carries. Finals, if the engine makes them, come separately.
    mutating func transcribe(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: ByteBuffer, pcm: ByteBuffer) throws -> String
    /// The session's audio is over: its open segments' finals, then `sessionEnded`, are
    /// written to `output` or, by a decoding thread, after it.
    mutating func endSession(clientID: UInt64, output: inout ByteBuffer)
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

    func transcribe(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: ByteBuffer, pcm: ByteBuffer) throws -> String {
        try self.transcribe(clientID: clientID, seq: seq, audio: audio)
    }

    func endSession(clientID: UInt64, output: inout ByteBuffer) {
        output.writePipeFrame(.sessionEnded(clientID: clientID))
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
