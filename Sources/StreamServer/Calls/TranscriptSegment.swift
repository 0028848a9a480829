import Foundation
import Protocol

/// A row of `transcript_segments`: what the engine heard in one stretch of a call. With the
/// mock engine a live session stores one per chunk (`seq` is the chunk's) and an upload's
/// transcript is its analysis's transcription as one segment; with a real engine a segment is
/// a stretch of speech on one channel (`seq` numbers them), with its words' times when the
/// engine gives them. (The table refers to the call by its compact key, `calls.ref`: the
/// repository reads and writes the rows itself.)
struct TranscriptSegment: Sendable, Equatable {
    /// `{"w","start_ms","end_ms"}`, as in the live `final` message.
    typealias Word = ServerMessage.Word

    var callID: UUID
    var seq: Int64
    var startMs: Int64
    var endMs: Int64
    var text: String
    /// 0 is the first (left) channel.
    var channel: Int64 = 0
    /// The words as JSON (`[{"w","start_ms","end_ms"}]`), or nil.
    var words: String?

    init(callID: UUID, seq: Int64, startMs: Int64, endMs: Int64, text: String, channel: Int64 = 0, words: String? = nil) {
        self.callID = callID
        self.seq = seq
        self.startMs = startMs
        self.endMs = endMs
        self.text = text
        self.channel = channel
        self.words = words
    }

    /// A recognised segment as the `seq`th of its call.
    init(callID: UUID, seq: Int64, segment: RecognizedSegment) {
        var words: String?
        if !segment.words.isEmpty {
            let list = segment.words.map { Word(w: $0.word, startMs: Int64($0.startMs), endMs: Int64($0.endMs)) }
            words = (try? JSONEncoder().encode(list)).map { String(decoding: $0, as: UTF8.self) }
        }
        self.init(
            callID: callID,
            seq: seq,
            startMs: Int64(segment.startMs),
            endMs: Int64(segment.endMs),
            text: segment.text,
            channel: Int64(segment.channel),
            words: words
        )
    }

    /// The words, decoded.
    var wordList: [Word]? {
        self.words.flatMap { try? JSONDecoder().decode([Word].self, from: Data($0.utf8)) }
    }
}
