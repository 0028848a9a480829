import Foundation
import NIOCore
import NIOFoundationCompat
import Protocol
import Testing

@Suite struct WireJSONTests {
    private func decode(_ write: (inout ByteBuffer) -> Void) throws -> ServerMessage {
        var buffer = ByteBuffer()
        write(&buffer)
        return try JSONDecoder().decode(ServerMessage.self, from: buffer)
    }

    @Test func ackHasTheProtocolFields() throws {
        var buffer = ByteBuffer()
        buffer.writeAckJSON(clientID: 7, seq: 1, chunkSize: 4096)
        #expect(String(buffer: buffer) == #"{"type":"ack","client_id":7,"seq":1,"chunk_size":4096}"#)
    }

    @Test func transcriptTextSurvivesEscaping() throws {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{07} ünïcødé ✓ end"
        let message = try decode { $0.writeTranscriptJSON(clientID: UInt64.max, seq: 12_345_678_901, text: text) }
        #expect(message == ServerMessage(type: "transcript", clientID: .max, seq: 12_345_678_901, transcription: text))
        #expect(message.kind == .transcript)
    }

    @Test func errorCarriesCodeMessageAndSeq() throws {
        let message = try decode { $0.writeErrorJSON(code: "worker_crashed", message: "it \"died\"", seq: 3) }
        #expect(message.error == .init(code: "worker_crashed", message: "it \"died\""))
        #expect(message.seq == 3)
        #expect(message.kind == .error)
    }

    /// The session messages decode to what was written, and say what they are.
    @Test func sessionMessagesRoundTrip() throws {
        let transcript = try decode { $0.writeTranscriptJSON(clientID: 7, seq: 2, text: "t", startMs: 100, endMs: 200) }
        #expect(transcript.kind == .transcript && transcript.startMs == 100 && transcript.endMs == 200 && transcript.transcription == "t")
        let started = try decode { $0.writeStartedJSON(clientID: 7, callID: nil, resumeToken: "tok", maxChunkBytes: 1024) }
        #expect(started.kind == .started && started.clientID == 7 && started.callID == nil && started.resumeToken == "tok")
        let resumed = try decode { $0.writeResumedJSON(clientID: 7, callID: "c", nextSeq: 42) }
        #expect(resumed.kind == .resumed && resumed.callID == "c" && resumed.nextSeq == 42)
        let stopped = try decode { $0.writeStoppedJSON(callID: "c", chunks: 3, bytes: 9600, durationSec: 0.3, errors: 1) }
        #expect(stopped.kind == .stopped && stopped.chunks == 3 && stopped.bytes == 9600 && stopped.durationSec == 0.3 && stopped.errors == 1)
    }

    @Test func decimalsAreWrittenExactly() {
        for value: UInt64 in [0, 9, 10, 99, 100, 1_000_000, .max] {
            var buffer = ByteBuffer()
            buffer.writeDecimal(value)
            #expect(String(buffer: buffer) == String(value))
        }
    }

    @Test func theOriginalServicesMessagesAreUnderstood() throws {
        let ack = try JSONDecoder().decode(ServerMessage.self, from: Data(#"{"client_id":140000000000001,"seq":1,"chunk_size":10}"#.utf8))
        #expect(ack.kind == .ack)
        let transcript = try JSONDecoder().decode(ServerMessage.self, from: Data(#"{"seq":1,"transcription":"x"}"#.utf8))
        #expect(transcript.kind == .transcript)
        let error = try JSONDecoder().decode(ServerMessage.self, from: Data(#"{"error":"Expected binary audio chunk or text"}"#.utf8))
        #expect(error.kind == .error)
    }
}
