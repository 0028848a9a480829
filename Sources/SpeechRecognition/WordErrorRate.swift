/// Word error rate of a hypothesis against a reference, after a light normalisation in the
/// spirit of Whisper's English normaliser: case and punctuation dropped, spoken digits
/// written as digits, and adjacent digit groups joined, so "eight one nine three", "8193"
/// and "81 93" all score the same.
public enum WordErrorRate {
    /// (substitutions + deletions + insertions) / reference words; 0 for two empty texts.
    public static func of(hypothesis: String, reference: String) -> Double {
        let hyp = normalise(hypothesis)
        let ref = normalise(reference)
        guard !ref.isEmpty else { return hyp.isEmpty ? 0 : 1 }
        return Double(editDistance(hyp, ref)) / Double(ref.count)
    }

    private static let digits = [
        "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
        "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    ]

    public static func normalise(_ text: String) -> [String] {
        let cleaned = String(text.lowercased().map { $0.isLetter || $0.isNumber || $0 == "'" ? $0 : " " })
        var words: [String] = []
        var previousWasDigits = false
        for word in cleaned.split(separator: " ") {
            let token = digits[String(word)] ?? String(word)
            let isDigits = token.allSatisfy(\.isNumber)
            if isDigits, previousWasDigits {
                words[words.count - 1] += token
            } else {
                words.append(token)
            }
            previousWasDigits = isDigits
        }
        return words
    }

    /// Levenshtein distance over words, one row at a time.
    private static func editDistance(_ a: [String], _ b: [String]) -> Int {
        var previous = Array(0...b.count)
        var current = previous
        for i in a.indices {
            current[0] = i + 1
            for j in b.indices {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
