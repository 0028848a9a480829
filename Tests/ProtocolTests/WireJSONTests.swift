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
