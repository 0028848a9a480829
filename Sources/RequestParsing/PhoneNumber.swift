/// Phone numbers as the API accepts and stores them: digits with an optional leading `+`,
/// after stripping spaces, dashes and brackets, so `+1 (555) 010-2030` is `+15550102030`.
public enum PhoneNumber {
    public static let maxDigits = 32
    private static let separators: Set<Character> = [" ", "-", "(", ")", "[", "]"]

    /// The normalised number, or nil when it is not one: empty, more than 32 digits, or any
    /// other character.
    public static func normalise(_ text: String) -> String? {
        let stripped = Self.stripSeparators(text)
        let digits = stripped.hasPrefix("+") ? stripped.dropFirst() : Substring(stripped)
        guard !digits.isEmpty, digits.count <= Self.maxDigits, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return stripped
    }

    /// The text without separators (for substring search, which must see what is stored).
    public static func stripSeparators(_ text: String) -> String {
        text.filter { !Self.separators.contains($0) }
    }
}
