/// The mock engine's output, shared by the worker (which produces it) and the load client
/// (which checks it). Compatible with the original Python service.
public enum MockTranscript {
    public static func text(clientID: UInt64, seq: UInt64, byteCount: Int) -> String {
        "mock transcription for client \(clientID) msg#\(seq) (binary \(byteCount) bytes)"
    }

    /// True when `text` is what the mock engine says for chunk `seq` of `byteCount` bytes.
    /// The client id is not checked: the original service used unrelated numbers for it.
    public static func matches(_ text: String, seq: UInt64, byteCount: Int) -> Bool {
        text.hasPrefix("mock transcription for client ") && text.contains(" msg#\(seq) ")
            && text.hasSuffix("(binary \(byteCount) bytes)")
    }
}
