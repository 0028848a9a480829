import AudioCodecs
import Foundation
import NIOCore
import NIOWebSocket
import Protocol
import Testing

/// A shared recording's PCM: rate, channels and the data chunk's bytes.
struct TestPCM {
    var rate: Int
    var channels: Int
    var data: [UInt8]

    static func load(_ name: String) throws -> TestPCM {
        let file = [UInt8](try CallAPITests.audio(name))
        return try Self.parse(file)
    }

    /// The canonical PCM WAV layout (as the shared files and our recordings have it).
    static func parse(_ file: [UInt8]) throws -> TestPCM {
        func u16(_ at: Int) -> Int { Int(file[at]) | Int(file[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var offset = 12
        var channels = 0
        var rate = 0
        while offset + 8 <= file.count {
            let id = String(decoding: file[offset..<offset + 4], as: UTF8.self)
            let size = u32(offset + 4)
            if id == "fmt " {
                channels = u16(offset + 10)
                rate = u32(offset + 12)
            } else if id == "data" {
                let end = min(offset + 8 + size, file.count)
                return TestPCM(rate: rate, channels: channels, data: Array(file[offset + 8..<end]))
            }
            offset += 8 + size + size % 2
        }
        throw TestServerError.exited("no data chunk")
    }

    var samples: [Int16] {
        stride(from: 0, to: self.data.count - 1, by: 2).map { Int16(bitPattern: UInt16(self.data[$0]) | UInt16(self.data[$0 + 1]) << 8) }
    }

    /// `ms`-long chunks of the raw PCM bytes (the last may be shorter).
    func pcmChunks(ms: Int) -> [[UInt8]] {
        let step = self.rate * ms / 1000 * self.channels * 2
        return stride(from: 0, to: self.data.count, by: step).map { Array(self.data[$0..<min($0 + step, self.data.count)]) }
    }

    func mulawChunks(ms: Int) -> [[UInt8]] {
        let step = self.rate * ms / 1000 * self.channels
        let encoded = self.samples.map(G711.encodeMulaw)
        return stride(from: 0, to: encoded.count, by: step).map { Array(encoded[$0..<min($0 + step, encoded.count)]) }
    }

    /// One Opus packet per `ms` (the last frame padded with silence).
    func opusPackets(ms: Int) throws -> [[UInt8]] {
        let encoder = try OpusEncoder(sampleRate: self.rate, channels: self.channels)
        let step = self.rate * ms / 1000 * self.channels
        let samples = self.samples
        return try stride(from: 0, to: samples.count, by: step).map { start in
            var frame = Array(samples[start..<min(start + step, samples.count)])
            frame += [Int16](repeating: 0, count: step - frame.count)
            return try encoder.encode(frame)
        }
    }
}

/// One session's traffic as a test sees it.
struct SessionTranscript {
    var acks: [UInt64] = []
    var transcripts: [ServerMessage] = []
    var errors: [ServerMessage] = []
    var stopped: ServerMessage?
}

extension TestWebSocket {
    /// Sends a JSON control message and returns the first reply that is not an ack or transcript.
    mutating func control(_ object: [String: Any]) async throws -> ServerMessage? {
        try await self.sendText(String(decoding: CallAPITests.json(object), as: UTF8.self))
        while let message = try await self.nextMessage() {
            if message.kind != .ack && message.kind != .transcript { return message }
        }
        return nil
    }

    func sendChunk(_ bytes: [UInt8]) async throws {
        try await self.send(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(bytes: bytes)))
    }

    /// Reads until `stopped` (or the connection closes), sorting what arrives.
    mutating func collect(into session: inout SessionTranscript, untilSeq: UInt64? = nil) async throws {
        while let message = try await self.nextMessage(timeout: .seconds(20)) {
            switch message.kind {
            case .ack: session.acks.append(message.seq ?? 0)
            case .transcript: session.transcripts.append(message)
            case .error: session.errors.append(message)
            case .stopped:
                session.stopped = message
                return
            default: break
            }
            if let untilSeq, let seq = message.seq, message.kind != .ack, seq >= untilSeq { return }
        }
    }
}
