/// One stretch of speech a real engine recognised: which channel (0 is the first, left one),
/// where it lies in the stream or recording, its text and, when the engine gives them, its
/// words with their times.
public struct RecognizedSegment: Equatable, Sendable {
    public struct Word: Equatable, Sendable {
        public var word: String
        public var startMs: UInt32
        public var endMs: UInt32

        public init(word: String, startMs: UInt32, endMs: UInt32) {
            self.word = word
            self.startMs = startMs
            self.endMs = endMs
        }
    }

    public var channel: UInt8
    public var startMs: UInt32
    public var endMs: UInt32
    public var text: String
    /// Empty when the engine gives no word times (Moonshine).
    public var words: [Word]

    public init(channel: UInt8, startMs: UInt32, endMs: UInt32, text: String, words: [Word] = []) {
        self.channel = channel
        self.startMs = startMs
        self.endMs = endMs
        self.text = text
        self.words = words
    }
}

/// Worker → server: a live session's closed segment, decoded, with the chunks it spans.
public struct LiveFinal: Equatable, Sendable {
    public var clientID: UInt64
    public var seqFrom: UInt64
    public var seqTo: UInt64
    public var segment: RecognizedSegment

    public init(clientID: UInt64, seqFrom: UInt64, seqTo: UInt64, segment: RecognizedSegment) {
        self.clientID = clientID
        self.seqFrom = seqFrom
        self.seqTo = seqTo
        self.segment = segment
    }
}
