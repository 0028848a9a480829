/// Words to look for in what was said (`GET /calls?text=`, `GET /calls/{id}/transcript?q=`):
/// letters and digits, lowercased, in order, as an SQLite FTS5 query of quoted terms (so no
/// character of the input is FTS5 syntax).
public struct SpokenWords: Equatable, Sendable {
    public static let maxWords = 10
    public static let maxLength = 200

    public var words: [String]

    /// nil when `text` holds no word; throws when it is too long.
    public init?(_ text: Substring, parameter: String) throws(InputError) {
        guard text.count <= Self.maxLength else {
            throw InputError(code: "invalid_\(parameter)", message: "\(parameter) must be at most \(Self.maxLength) characters")
        }
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
        guard !words.isEmpty else { return nil }
        guard words.count <= Self.maxWords else {
            throw InputError(code: "invalid_\(parameter)", message: "\(parameter) must have at most \(Self.maxWords) words")
        }
        self.words = words
    }

    /// One word as an FTS5 term.
    public static func term(_ word: String) -> String {
        "\"" + word.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Any of the words (FTS5 `OR`).
    public var anyQuery: String { self.words.map(Self.term).joined(separator: " OR ") }
}
