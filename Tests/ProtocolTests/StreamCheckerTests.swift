import Protocol
import Testing

@Suite struct StreamCheckerTests {
    private func ack(_ seq: UInt64, size: Int = 10, client: UInt64 = 1) -> ServerMessage {
        ServerMessage(type: "ack", clientID: client, seq: seq, chunkSize: size)
    }

    private func transcript(_ seq: UInt64, size: Int = 10) -> ServerMessage {
        ServerMessage(type: "transcript", clientID: 1, seq: seq, transcription: MockTranscript.text(clientID: 1, seq: seq, byteCount: size))
    }

    @Test func aCompleteOrderedStreamPasses() {
        var checker = StreamChecker()
        for _ in 1...3 { _ = checker.didSend(size: 10) }
        for seq: UInt64 in 1...3 { #expect(checker.receive(ack(seq)) == .ack(seq: seq)) }
        for seq: UInt64 in 1...3 { #expect(checker.receive(transcript(seq)) == .transcript(seq: seq)) }
        #expect(checker.isComplete)
        #expect(checker.counts.violations == 0)
    }

    @Test func missingTranscriptsAreNotComplete() {
        var checker = StreamChecker()
        _ = checker.didSend(size: 10)
        _ = checker.didSend(size: 10)
        _ = checker.receive(ack(1))
        _ = checker.receive(ack(2))
        _ = checker.receive(transcript(1))
        #expect(!checker.isComplete)
        #expect(checker.missingTranscripts == 1)
    }

    @Test func duplicatesReordersAndWrongSizesAreViolations() {
        var checker = StreamChecker()
        for _ in 1...3 { _ = checker.didSend(size: 10) }
        _ = checker.receive(ack(2))
        _ = checker.receive(ack(1))
        _ = checker.receive(ack(1))
        _ = checker.receive(ack(3, size: 11))
        #expect(checker.counts.outOfOrder == 1)
        #expect(checker.counts.duplicates == 1)
        #expect(checker.counts.malformed == 1)
    }

    @Test func aChangingClientIdAndUnknownSeqsAreViolations() {
        var checker = StreamChecker()
        _ = checker.didSend(size: 10)
        _ = checker.didSend(size: 10)
        _ = checker.receive(ack(1, client: 5))
        _ = checker.receive(ack(2, client: 6))
        _ = checker.receive(transcript(9))
        #expect(checker.counts.clientIDChanges == 1)
        #expect(checker.counts.unexpected == 1)
    }

    private func final(_ from: UInt64, _ to: UInt64, start: Int64, channel: Int = 0) -> ServerMessage {
        var message = ServerMessage(type: "final")
        (message.seqFrom, message.seqTo, message.startMs, message.endMs, message.channel, message.text) = (from, to, start, start + 100, channel, "x")
        return message
    }

    /// A final may only follow its last chunk's transcript, and a channel's finals come in time order.
    @Test func finalsFollowTheirChunksInTimeOrder() {
        var checker = StreamChecker()
        for _ in 1...4 { _ = checker.didSend(size: 10) }
        for seq: UInt64 in 1...2 { _ = checker.receive(ack(seq)) }
        _ = checker.receive(transcript(1))
        _ = checker.receive(transcript(2))
        #expect(checker.receive(final(1, 2, start: 0)) == .final)
        #expect(checker.receive(final(2, 2, start: 50, channel: 1)) == .final)
        #expect(checker.counts.violations == 0)
        #expect(checker.receive(final(3, 4, start: 200)) != .final)
        #expect(checker.counts.outOfOrder == 1)
        #expect(checker.receive(final(1, 1, start: -1)) != .final)
        #expect(checker.counts.outOfOrder == 2)
        #expect(checker.receive(final(2, 1, start: 300)) != .final)
        #expect(checker.counts.malformed == 1)
        #expect(checker.counts.finals == 4)
    }

    @Test func wrongTranscriptTextIsAViolation() {
        var checker = StreamChecker()
        _ = checker.didSend(size: 10)
        _ = checker.receive(ServerMessage(type: "transcript", clientID: 1, seq: 1, transcription: "something else"))
        #expect(checker.counts.malformed == 1)
    }
}
