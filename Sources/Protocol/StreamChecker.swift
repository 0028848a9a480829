/// Checks one connection's replies against the protocol's promises: every chunk gets one ack
/// and one transcript, each in seq order, with the chunk's size, under one `client_id`.
///
/// Used by the load client and the tests; it never trusts the server.
public struct StreamChecker: Sendable {
    public struct Counts: Sendable, Equatable {
        public var sent = 0
        public var acks = 0
        public var transcripts = 0
        public var duplicates = 0
        public var outOfOrder = 0
        public var malformed = 0
        public var serverErrors = 0
        public var unexpected = 0
        public var clientIDChanges = 0
        /// Acked chunks answered with an error naming their seq (counted in `serverErrors` too).
        public var answeredByError = 0
        /// `final` messages (real engines).
        public var finals = 0

        public init() {}

        public var violations: Int {
            self.duplicates + self.outOfOrder + self.malformed + self.serverErrors + self.unexpected
                + self.clientIDChanges
        }

        public mutating func add(_ other: Counts) {
            self.sent += other.sent
            self.acks += other.acks
            self.transcripts += other.transcripts
            self.duplicates += other.duplicates
            self.outOfOrder += other.outOfOrder
            self.malformed += other.malformed
            self.serverErrors += other.serverErrors
            self.unexpected += other.unexpected
            self.clientIDChanges += other.clientIDChanges
            self.answeredByError += other.answeredByError
            self.finals += other.finals
        }
    }

    /// What a received message meant.
    public enum Event: Equatable, Sendable {
        case ack(seq: UInt64)
        case transcript(seq: UInt64)
        case pong
        /// `started`, `resumed` or `stopped`: the caller reads its fields.
        case session
        /// A closed segment's text (the caller reads its fields).
        case final
        case violation(String)
    }

    public private(set) var counts = Counts()
    public private(set) var clientID: UInt64?
    /// Whether transcripts must carry the mock engine's exact text.
    public let expectsMockText: Bool
    private var sizes: [Int] = []
    /// For started sessions: where each chunk's audio must lie (`start_ms`, `end_ms`).
    private var spans: [ClosedRange<Int64>?] = []
    private var acked: [Bool] = []
    private var transcribed: [Bool] = []
    private var lastAck: UInt64 = 0
    private var lastTranscript: UInt64 = 0
    /// Where each channel's last final started.
    private var finalStarts: [Int: Int64] = [:]

    public init(expectsMockText: Bool = true) {
        self.expectsMockText = expectsMockText
    }

    /// Records a chunk of `size` bytes as sent; returns the seq the server will give it.
    public mutating func didSend(size: Int, span: ClosedRange<Int64>? = nil) -> UInt64 {
        self.sizes.append(size)
        self.spans.append(span)
        self.acked.append(false)
        self.transcribed.append(false)
        self.counts.sent += 1
        return UInt64(self.sizes.count)
    }

    /// Every chunk sent has its ack and its transcript.
    public var isComplete: Bool {
        self.counts.acks == self.counts.sent && self.counts.transcripts == self.counts.sent
    }

    /// A resumed session: the server holds every chunk before `nextSeq` (their acks may have
    /// been lost with the old connection) and none from it on (the client sends those again).
    public mutating func resumed(nextSeq: UInt64) -> Event {
        let held = Int(nextSeq) - 1
        guard held >= 0, held <= self.sizes.count else {
            self.counts.unexpected += 1
            return .violation("resumed with next_seq \(nextSeq), but only \(self.sizes.count) chunks were sent")
        }
        for index in 0..<held where !self.acked[index] {
            self.acked[index] = true
            self.counts.acks += 1
        }
        let dropped = self.sizes.count - held
        if dropped > 0 {
            for index in held..<self.sizes.count where self.transcribed[index] {
                self.counts.unexpected += 1
                return .violation("transcript for seq \(index + 1), which the server says it never received")
            }
            self.sizes.removeLast(dropped)
            self.spans.removeLast(dropped)
            self.acked.removeLast(dropped)
            self.transcribed.removeLast(dropped)
            self.counts.sent -= dropped
        }
        self.lastAck = UInt64(held)
        return .session
    }

    /// The highest seq whose transcript (or error) arrived, all before it too: what `resume` sends.
    public var lastAnswered: UInt64 { self.lastTranscript }

    public var missingAcks: Int { self.counts.sent - self.counts.acks }
    public var missingTranscripts: Int { self.counts.sent - self.counts.transcripts }

    public mutating func receive(_ message: ServerMessage) -> Event {
        switch message.kind {
        case .ack:
            guard let seq = self.knownSeq(message.seq) else {
                self.counts.unexpected += 1
                return .violation("ack for unknown seq \(message.seq.map(String.init) ?? "nil")")
            }
            let index = Int(seq - 1)
            if self.acked[index] {
                self.counts.duplicates += 1
                return .violation("duplicate ack for seq \(seq)")
            }
            self.acked[index] = true
            self.counts.acks += 1
            if let id = message.clientID {
                if self.clientID == nil {
                    self.clientID = id
                } else if self.clientID != id {
                    self.counts.clientIDChanges += 1
                    return .violation("client_id changed from \(self.clientID!) to \(id)")
                }
            }
            if seq < self.lastAck {
                self.counts.outOfOrder += 1
                return .violation("ack \(seq) after ack \(self.lastAck)")
            }
            self.lastAck = seq
            if message.chunkSize != self.sizes[index] {
                self.counts.malformed += 1
                return .violation("ack \(seq) has chunk_size \(message.chunkSize ?? -1), sent \(self.sizes[index])")
            }
            return .ack(seq: seq)
        case .transcript:
            guard let seq = self.knownSeq(message.seq) else {
                self.counts.unexpected += 1
                return .violation("transcript for unknown seq \(message.seq.map(String.init) ?? "nil")")
            }
            let index = Int(seq - 1)
            if self.transcribed[index] {
                self.counts.duplicates += 1
                return .violation("duplicate transcript for seq \(seq)")
            }
            self.transcribed[index] = true
            self.counts.transcripts += 1
            if seq < self.lastTranscript {
                self.counts.outOfOrder += 1
                return .violation("transcript \(seq) after transcript \(self.lastTranscript)")
            }
            self.lastTranscript = seq
            if self.expectsMockText, !MockTranscript.matches(message.transcription ?? "", seq: seq, byteCount: self.sizes[index]) {
                self.counts.malformed += 1
                return .violation("transcript \(seq) has unexpected text")
            }
            if let span = self.spans[index], message.startMs != span.lowerBound || message.endMs != span.upperBound {
                self.counts.malformed += 1
                return .violation(
                    "transcript \(seq) covers \(message.startMs ?? -1)-\(message.endMs ?? -1) ms, expected \(span.lowerBound)-\(span.upperBound)"
                )
            }
            return .transcript(seq: seq)
        case .pong:
            return .pong
        case .started, .resumed, .stopped:
            return .session
        case .final:
            return self.receiveFinal(message)
        case .error:
            self.counts.serverErrors += 1
            // An error naming an acked seq is that chunk's answer (instead of its transcript).
            if let seq = self.knownSeq(message.seq), self.acked[Int(seq - 1)], !self.transcribed[Int(seq - 1)] {
                self.transcribed[Int(seq - 1)] = true
                self.counts.answeredByError += 1
            }
            return .violation("server error: \(message.error?.code ?? "?"): \(message.error?.message ?? "")")
        case .other:
            self.counts.unexpected += 1
            return .violation("unexpected message type \(message.type ?? "nil")")
        }
    }

    /// A final names chunks whose transcripts went out before it, and each channel's finals
    /// come in time order.
    private mutating func receiveFinal(_ message: ServerMessage) -> Event {
        guard let from = self.knownSeq(message.seqFrom), let to = self.knownSeq(message.seqTo), from <= to,
            let start = message.startMs, let end = message.endMs, start <= end, message.text != nil
        else {
            self.counts.malformed += 1
            return .violation("final with bad fields (seq \(message.seqFrom ?? 0)-\(message.seqTo ?? 0))")
        }
        self.counts.finals += 1
        guard to <= self.lastTranscript else {
            self.counts.outOfOrder += 1
            return .violation("final for seqs \(from)-\(to) before the transcript of seq \(to)")
        }
        let channel = message.channel ?? 0
        if let last = self.finalStarts[channel], start < last {
            self.counts.outOfOrder += 1
            return .violation("final on channel \(channel) starting at \(start) ms after one starting at \(last) ms")
        }
        self.finalStarts[channel] = start
        return .final
    }

    private func knownSeq(_ seq: UInt64?) -> UInt64? {
        guard let seq, seq >= 1, seq <= UInt64(self.sizes.count) else { return nil }
        return seq
    }
}
