import Protocol
import Testing

@Suite struct MockTranscriptTests {
    @Test func theEnginesOwnTextMatches() {
        for (seq, size) in [(UInt64(1), 3200), (42, 0), (1_000_000, 160), (UInt64.max, Int.max)] {
            let text = MockTranscript.text(clientID: 7, seq: seq, byteCount: size)
            #expect(MockTranscript.matches(text, seq: seq, byteCount: size), "\(text)")
        }
        // Any client id: the original service used unrelated numbers for it.
        #expect(MockTranscript.matches("mock transcription for client 0 msg#5 (binary 10 bytes)", seq: 5, byteCount: 10))
    }

    @Test func anotherChunksTextDoesNot() {
        let text = MockTranscript.text(clientID: 7, seq: 12, byteCount: 3200)
        #expect(!MockTranscript.matches(text, seq: 1, byteCount: 3200), "a prefix of the seq")
        #expect(!MockTranscript.matches(text, seq: 2, byteCount: 3200), "a suffix of the seq")
        #expect(!MockTranscript.matches(text, seq: 120, byteCount: 3200))
        #expect(!MockTranscript.matches(text, seq: 12, byteCount: 200), "a suffix of the size")
        #expect(!MockTranscript.matches(text, seq: 12, byteCount: 32000))
        #expect(!MockTranscript.matches(text, seq: 12, byteCount: -1))
    }

    @Test func otherTextsDoNot() {
        for text in [
            "", "mock", "mock transcription for client 7 msg#12 (binary 3200 bytes", "mock transcription for client 7 msg#12 (binary  bytes)",
            "mock transcription for client 7 msg#012 (binary 3200 bytes)", "mock transcription for client 7 msg#12 (binary 03200 bytes)",
            "Mock transcription for client 7 msg#12 (binary 3200 bytes)", "mock transcription for client 7 msg#12(binary 3200 bytes)",
            "mock transcription for client 7 (binary 3200 bytes)", "mock transcription for client 7 msg#12 (binary 3200 bytes) ",
            "mock transcription for client 7 msg#99999999999999999999999 (binary 3200 bytes)",
        ] {
            #expect(!MockTranscript.matches(text, seq: 12, byteCount: 3200), "\(text)")
        }
    }
}
