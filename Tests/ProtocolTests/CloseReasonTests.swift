import Protocol
import Testing

@Suite struct CloseReasonTests {
    /// A cut never splits a character: 2-, 3- and 4-byte characters and a combining sequence
    /// at every position around the limit stay valid UTF-8 of at most 120 bytes.
    @Test(arguments: ["é", "€", "🎙️", "e\u{301}", "a"])
    func aCutNeverSplitsACharacter(_ character: String) {
        for prefix in 0..<8 {
            let reason = String(repeating: "x", count: prefix) + String(repeating: character, count: 200)
            let cut = CloseReason.cut(reason)
            #expect(cut.utf8.count <= 120)
            #expect(cut.utf8.count > 120 - 8, "as much as fits")
            #expect(reason.hasPrefix(cut))
            #expect(String(validating: Array(cut.utf8), as: UTF8.self) == cut)
        }
        #expect(CloseReason.cut("idle for 60 s") == "idle for 60 s")
    }
}
