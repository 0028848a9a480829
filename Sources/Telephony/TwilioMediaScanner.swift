import Foundation

/// The fast path for Twilio's most frequent message, `media` (50 a second per track): one pass
/// over the bytes, no Codable machinery (which cost a third of the server's CPU at 500
/// streams). It reads the usual shape only — plain strings without escapes, an object for
/// `media` — and answers nil for anything else, which then goes through `TwilioMessage.parse`.
/// Whatever it answers, the full parser answers the same (the `twilio` fuzz target checks).
enum TwilioMediaScanner {
    static func media(_ bytes: UnsafeRawBufferPointer) -> TwilioMessage.Media? {
        var scanner = Scanner(bytes: bytes)
        var event: Slice<UnsafeRawBufferPointer>?
        var media: TwilioMessage.Media?
        guard
            scanner.object({ scanner, key in
                switch key {
                case "event":
                    event = try scanner.string()
                case "media":
                    media = try scanner.mediaBody()
                default:
                    try scanner.skipValue()
                }
            })
        else { return nil }
        scanner.skipWhitespace()
        guard scanner.atEnd, let event, event.elementsEqual("media".utf8) else { return nil }
        return media
    }

    private struct Unusual: Error {}

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var atEnd: Bool { self.index >= self.bytes.count }

        mutating func skipWhitespace() {
            while self.index < self.bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(self.bytes[self.index]) { self.index += 1 }
        }

        mutating func take(_ byte: UInt8) throws {
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == byte else { throw Unusual() }
            self.index += 1
        }

        mutating func peek() -> UInt8? {
            self.skipWhitespace()
            return self.index < self.bytes.count ? self.bytes[self.index] : nil
        }

        /// An object's members; false (not an error) when the input is not this shape.
        mutating func object(_ member: (inout Scanner, String) throws -> Void) -> Bool {
            do {
                try self.members(member)
                return true
            } catch {
                return false
            }
        }

        mutating func members(_ member: (inout Scanner, String) throws -> Void) throws {
            try self.take(UInt8(ascii: "{"))
            var seen: Set<String> = []
            if self.peek() == UInt8(ascii: "}") {
                self.index += 1
                return
            }
            while true {
                let key = String(decoding: try self.string(), as: UTF8.self)
                // A repeated key: JSONDecoder keeps one of them; leave that to it.
                guard seen.insert(key).inserted else { throw Unusual() }
                try self.take(UInt8(ascii: ":"))
                try member(&self, key)
                guard let next = self.peek() else { throw Unusual() }
                self.index += 1
                if next == UInt8(ascii: "}") { return }
                guard next == UInt8(ascii: ",") else { throw Unusual() }
            }
        }

        /// A string without escapes or control characters, as its bytes.
        mutating func string() throws -> Slice<UnsafeRawBufferPointer> {
            try self.take(UInt8(ascii: "\""))
            let start = self.index
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    self.index += 1
                    return self.bytes[start..<(self.index - 1)]
                }
                guard byte != UInt8(ascii: "\\"), byte >= 0x20, byte < 0x80 else { throw Unusual() }
                self.index += 1
            }
            throw Unusual()
        }

        /// `{"track","chunk","timestamp","payload"}` with Twilio's types.
        mutating func mediaBody() throws -> TwilioMessage.Media {
            var track: TwilioMessage.Track = .inbound
            var timestamp: UInt64?
            var payload: [UInt8]?
            try self.members { scanner, key in
                switch key {
                case "track":
                    guard let value = TwilioMessage.Track(rawValue: String(decoding: try scanner.string(), as: UTF8.self)) else { throw Unusual() }
                    track = value
                case "timestamp":
                    let digits = try scanner.string()
                    guard (1...19).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
                        let value = UInt64(String(decoding: digits, as: UTF8.self))
                    else { throw Unusual() }
                    timestamp = value
                case "payload":
                    guard let decoded = Data(base64Encoded: Data(try scanner.string())) else { throw Unusual() }
                    payload = [UInt8](decoded)
                case "chunk":
                    _ = try scanner.string()
                default:
                    try scanner.skipValue()
                }
            }
            guard let timestamp, let payload else { throw Unusual() }
            return TwilioMessage.Media(track: track, timestampMs: timestamp, payload: payload)
        }

        /// Any other member's value: a plain string, or a number; anything else is unusual.
        mutating func skipValue() throws {
            guard let first = self.peek() else { throw Unusual() }
            if first == UInt8(ascii: "\"") {
                _ = try self.string()
                return
            }
            throw Unusual()
        }
    }
}
