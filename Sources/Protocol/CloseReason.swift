/// A WebSocket close frame's reason: at most 123 bytes of UTF-8 after the code (RFC 6455
/// §5.5), so a longer one is cut — at a character boundary, never inside one.
public enum CloseReason {
    public static func cut(_ reason: String, maxBytes: Int = 120) -> String {
        var cut = ""
        var bytes = 0
        for character in reason {
            bytes += character.utf8.count
            guard bytes <= maxBytes else { break }
            cut.append(character)
        }
        return cut
    }
}
