import Foundation
import NIOCore
import NIOFoundationCompat
import Protocol
import Testing

/// The load client's JSON reader must read every message exactly as `JSONDecoder` does.
@Suite struct ServerMessageParsingTests {
    static let agreeing: [String] = [
        #"{"type":"ack","client_id":7,"seq":1,"chunk_size":4096}"#,
        #"{"type":"transcript","client_id":18446744073709551615,"seq":2,"transcription":"mock transcription for client 7 msg#2 (binary 10 bytes)"}"#,
        #"{"type":"error","seq":3,"error":{"code":"worker_crashed","message":"it \"died\""}}"#,
        #"{"type":"pong"}"#,
        #"{}"#,
        #" { "seq" : 5 , "transcription" : "a\\b\/c\n\t\r\b\f \u00e9 \u2713 \ud83d\ude00 ünï" } "#,
        #"{"client_id":1,"seq":1,"chunk_size":3}"#,
        #"{"seq":1,"transcription":"old service"}"#,
        #"{"error":"plain text error"}"#,
        #"{"error":{"code":"c"}}"#,
        #"{"error":42,"type":"pong"}"#,
        #"{"type":null,"seq":null,"error":null}"#,
        #"{"extra":[1,2.5e3,{"a":[true,false,null]},"x"],"type":"pong","nested":{"k":-1}}"#,
        #"{"type":"ack","chunk_size":-4}"#,
        #"{"type":"transcript","client_id":7,"seq":1,"transcription":"t","start_ms":0,"end_ms":100}"#,
        #"{"type":"started","client_id":7,"call_id":"0b1c","resume_token":"Xy_-","codecs":["pcm_s16le","opus"],"max_chunk_bytes":1048576}"#,
        #"{"type":"started","client_id":7,"call_id":null,"resume_token":"Xy"}"#,
        #"{"type":"resumed","client_id":7,"call_id":"0b1c","next_seq":131}"#,
        #"{"type":"stopped","call_id":"0b1c","chunks":300,"bytes":960000,"duration_sec":30.0,"errors":0}"#,
        #"{"type":"stopped","duration_sec":2.5e-1,"errors":1}"#,
        #"{"type":"final","client_id":7,"seq_from":3,"seq_to":9,"start_ms":200,"end_ms":2400,"channel":1,"text":"good afternoon"}"#,
        #"{"type":"final","seq_from":1,"seq_to":1,"channel":0,"text":"","words":[{"w":"hi","start_ms":5,"end_ms":90,"x":1},{"end_ms":2,"start_ms":1,"w":""}]}"#,
        #"{"type":"final","words":[],"text":null}"#,
    ]

    static let rejected: [String] = [
        "", "[]", "42", #""text""#, "{", #"{"type":"ack""#, #"{"type":ack}"#,
        #"{"seq":-1}"#, #"{"seq":1.5}"#, #"{"seq":"1"}"#, #"{"type":1}"#,
        #"{"type":"pong"} trailing"#, #"{"duration_sec":"30"}"#, #"{"start_ms":1.5}"#, #"{"next_seq":-1}"#, #"{"type":"bad \q escape"}"#,
        #"{"type":"\ud83d alone"}"#, #"{"words":[{"w":"hi","start_ms":5}]}"#, #"{"words":{"w":"hi"}}"#, #"{"channel":-1.5}"#,
        "{\"type\":\"raw\u{01}control\"}", #"{"seq":99999999999999999999999}"#, #"{"a":tru}"#,
    ]

    private static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test(arguments: agreeing) func readsWhatJSONDecoderReads(_ text: String) throws {
        let expected = try JSONDecoder().decode(ServerMessage.self, from: Self.buffer(text))
        #expect(ServerMessage(json: Self.buffer(text)) == expected)
    }

    @Test(arguments: rejected) func rejectsWhatJSONDecoderRejects(_ text: String) {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ServerMessage.self, from: Self.buffer(text)) }
        #expect(ServerMessage(json: Self.buffer(text)) == nil)
    }

    /// Stricter than JSONDecoder, which tolerates a trailing comma and exponents in integers.
    @Test(arguments: [#"{"type":"ack",}"#, #"{"chunk_size":1e3}"#]) func strictJSONOnly(_ text: String) {
        #expect(ServerMessage(json: Self.buffer(text)) == nil)
    }

    @Test func invalidUTF8IsRejected() {
        var buffer = ByteBuffer(string: #"{"type":""#)
        buffer.writeBytes([0xFF, 0xFE])
        buffer.writeString(#""}"#)
        #expect(ServerMessage(json: buffer) == nil)
    }

    @Test func readsTheServersOwnFinals() throws {
        var buffer = ByteBuffer()
        let segment = RecognizedSegment(
            channel: 1,
            startMs: 250,
            endMs: 900,
            text: "say \"hi\"",
            words: [.init(word: "say", startMs: 250, endMs: 500)]
        )
        buffer.writeFinalJSON(clientID: 3, seqFrom: 2, seqTo: 5, segment: segment)
        let message = try #require(ServerMessage(json: buffer))
        #expect(message == (try JSONDecoder().decode(ServerMessage.self, from: buffer)))
        #expect(message.kind == .final)
        #expect(message.seqFrom == 2 && message.seqTo == 5 && message.channel == 1 && message.startMs == 250 && message.endMs == 900)
        #expect(message.text == "say \"hi\"")
        #expect(message.words == [ServerMessage.Word(w: "say", startMs: 250, endMs: 500)])
    }

    @Test func readsTheServersOwnWriters() {
        var buffer = ByteBuffer()
        buffer.writeTranscriptJSON(clientID: 9, seq: 4, text: "tab\tquote\"ünï\u{07}")
        #expect(ServerMessage(json: buffer) == ServerMessage(type: "transcript", clientID: 9, seq: 4, transcription: "tab\tquote\"ünï\u{07}"))
    }
}
