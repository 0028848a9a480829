import Foundation

/// Moonshine's vocabulary from the wheel's `tokenizer.bin`: each token's bytes, one after
/// another, each preceded by its length in one byte. Ids 0–2 are `<unk>`, `<s>` and `</s>`,
/// 3–258 the single bytes, and "▁" (U+2581) in a token is a space, SentencePiece's way.
struct MoonshineTokenizer {
    static let start = 1
    static let end = 2

    private let tokens: [[UInt8]]

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OnnxRuntime.Failure(description: "moonshine: cannot read \(path)")
        }
        var tokens: [[UInt8]] = []
        var index = data.startIndex
        while index < data.endIndex {
            let count = Int(data[index])
            let start = data.index(after: index)
            guard data.distance(from: start, to: data.endIndex) >= count else {
                throw OnnxRuntime.Failure(description: "moonshine: \(path) is cut short")
            }
            index = data.index(start, offsetBy: count)
            tokens.append([UInt8](data[start..<index]))
        }
        self.tokens = tokens
    }

    var count: Int { self.tokens.count }

    /// The text of token ids (special and unknown ids left out).
    func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id > Self.end && id < self.tokens.count {
            bytes += self.tokens[id]
        }
        return String(decoding: bytes, as: UTF8.self)
            .replacingOccurrences(of: "\u{2581}", with: " ")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
