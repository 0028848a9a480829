/// Stops an encoder-decoder's known failure, looping on a phrase ("thank you thank you
/// thank you ..."), from reaching a transcript: runs of a repeated 1–4 word phrase are cut
/// to two copies, and the text to what a fast talker could say in the segment's time.
public enum RepetitionGuard {
    /// Fast speech is about 4 words a second; this is a generous cap above it.
    public static let maxWordsPerSecond = 6.0

    public static func clean(_ text: String, audioSeconds: Double) -> String {
        var words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        for size in 1...4 {
            words = collapseRuns(words, size: size)
        }
        let cap = Int((audioSeconds * maxWordsPerSecond).rounded(.up)) + 2
        return words.prefix(cap).joined(separator: " ")
    }

    /// Keeps at most two consecutive copies of any `size`-word phrase (compared without
    /// case and punctuation, so "No, no, no." loses its third "no").
    private static func collapseRuns(_ words: [String], size: Int) -> [String] {
        let keys = words.map { $0.lowercased().filter { $0.isLetter || $0.isNumber } }
        var kept: [String] = []
        var keptKeys: [String] = []
        var index = 0
        while index < words.count {
            let end = index + size
            if end <= words.count, keptKeys.count >= 2 * size,
                Array(keptKeys.suffix(size)) == Array(keys[index..<end]),
                Array(keptKeys.suffix(2 * size).prefix(size)) == Array(keys[index..<end])
            {
                index = end
                continue
            }
            kept.append(words[index])
            keptKeys.append(keys[index])
            index += 1
        }
        return kept
    }
}
