/// The mock engine's output, shared by the worker (which produces it) and the load client
/// (which checks it). Compatible with the original Python service.
public enum MockTranscript {
    public static func text(clientID: UInt64, seq: UInt64, byteCount: Int) -> String {
        "mock transcription for client \(clientID) msg#\(seq) (binary \(byteCount) bytes)"
    }

    private static let prefix = Array("mock transcription for client ".utf8)
    private static let seqMark = Array(" msg#".utf8)
    private static let sizeMark = Array("(binary ".utf8)
    private static let suffix = Array(" bytes)".utf8)

    /// True when `text` is what the mock engine says for chunk `seq` of `byteCount` bytes.
    /// The client id is not checked: the original service used unrelated numbers for it.
    ///
    /// Compared as UTF-8 bytes, without building the expected text: the load client checks
    /// 10,000 transcripts a second, and `String.contains` with interpolated needles took
    /// 8 % of its CPU.
    public static func matches(_ text: String, seq: UInt64, byteCount: Int) -> Bool {
        guard byteCount >= 0 else { return false }
        var text = text
        return text.withUTF8 { bytes in
            guard Self.has(Self.prefix, in: bytes, at: 0) else { return false }
            // "(binary <byteCount> bytes)" ends it.
            guard bytes.count >= Self.suffix.count, Self.has(Self.suffix, in: bytes, at: bytes.count - Self.suffix.count) else { return false }
            var start = bytes.count - Self.suffix.count
            while start > 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[start - 1]) { start -= 1 }
            guard Self.number(in: bytes, from: start, to: bytes.count - Self.suffix.count) == UInt64(byteCount),
                start >= Self.sizeMark.count, Self.has(Self.sizeMark, in: bytes, at: start - Self.sizeMark.count)
            else { return false }
            // " msg#<seq> " anywhere after the prefix.
            var at = Self.prefix.count - 1
            while at + Self.seqMark.count <= bytes.count {
                if Self.has(Self.seqMark, in: bytes, at: at) {
                    let digits = at + Self.seqMark.count
                    var end = digits
                    while end < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) { end += 1 }
                    if end < bytes.count, bytes[end] == UInt8(ascii: " "), Self.number(in: bytes, from: digits, to: end) == seq { return true }
                }
                at += 1
            }
            return false
        }
    }

    private static func has(_ expected: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Bool {
        guard offset >= 0, offset + expected.count <= bytes.count else { return false }
        for index in expected.indices where bytes[offset + index] != expected[index] { return false }
        return true
    }

    /// The decimal number in `bytes[from..<to]`, written as `\(n)` writes it (no leading
    /// zeros, at least one digit), or nil.
    private static func number(in bytes: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> UInt64? {
        guard from < to, to - from <= 20, bytes[from] != UInt8(ascii: "0") || to - from == 1 else { return nil }
        var value: UInt64 = 0
        for index in from..<to {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
