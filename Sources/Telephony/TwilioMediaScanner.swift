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
                if key.elementsEqual("event".utf8) {
                    event = try scanner.string()
                } else if key.elementsEqual("media".utf8) {
                    media = try scanner.mediaBody()
                } else {
                    try scanner.skipValue()
                }
            })
        else { return nil }
        scanner.skipWhitespace()
        guard scanner.atEnd, let event, event.elementsEqual("media".utf8) else { return nil }
        return media
    }

    private struct Unusual: Error {}

    /// Canonical base64 only (whole quads, `=` only as padding, unused bits zero): anything
    /// else is left to Foundation.
    private enum Base64 {
        static let values: [Int8] = {
            var table = [Int8](repeating: -1, count: 256)
            for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
                table[Int(byte)] = Int8(index)
            }
            return table
        }()

        static func decode(_ text: Slice<UnsafeRawBufferPointer>) throws -> [UInt8] {
            guard text.count % 4 == 0 else { throw Unusual() }
            let padding = text.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
            var output: [UInt8] = []
            output.reserveCapacity(text.count / 4 * 3)
            var quad: UInt32 = 0
            var filled = 0
            for byte in text.dropLast(padding) {
                let value = Self.values[Int(byte)]
                guard value >= 0 else { throw Unusual() }
                quad = quad << 6 | UInt32(value)
                filled += 1
                if filled == 4 {
                    output.append(UInt8(truncatingIfNeeded: quad >> 16))
                    output.append(UInt8(truncatingIfNeeded: quad >> 8))
                    output.append(UInt8(truncatingIfNeeded: quad))
                    quad = 0
                    filled = 0
                }
            }
            switch filled {
            case 0: break
            case 2:
                guard quad & 0xF == 0 else { throw Unusual() }
                output.append(UInt8(truncatingIfNeeded: quad >> 4))
            case 3:
                guard quad & 0x3 == 0 else { throw Unusual() }
                output.append(UInt8(truncatingIfNeeded: quad >> 10))
                output.append(UInt8(truncatingIfNeeded: quad >> 2))
            default:
                throw Unusual()
            }
            return output
        }
    }

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
        mutating func object(_ member: (inout Scanner, Slice<UnsafeRawBufferPointer>) throws -> Void) -> Bool {
            do {
                try self.members(member)
                return true
            } catch {
                return false
            }
        }

        /// The keys read here: a repeated one (JSONDecoder keeps one of them) is left to it.
        static let knownKeys = ["event", "media", "track", "timestamp", "payload"]

        mutating func members(_ member: (inout Scanner, Slice<UnsafeRawBufferPointer>) throws -> Void) throws {
            try self.take(UInt8(ascii: "{"))
            var seen = 0
            if self.peek() == UInt8(ascii: "}") {
                self.index += 1
                return
            }
            while true {
                let key = try self.string()
                if let known = Self.knownKeys.firstIndex(where: { key.elementsEqual($0.utf8) }) {
                    guard seen & (1 << known) == 0 else { throw Unusual() }
                    seen |= 1 << known
                }
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
                if key.elementsEqual("track".utf8) {
                    let name = try scanner.string()
                    if name.elementsEqual("inbound".utf8) {
                        track = .inbound
                    } else if name.elementsEqual("outbound".utf8) {
                        track = .outbound
                    } else {
                        throw Unusual()
                    }
                } else if key.elementsEqual("timestamp".utf8) {
                    let digits = try scanner.string()
                    guard (1...19).contains(digits.count) else { throw Unusual() }
                    var value: UInt64 = 0
                    for digit in digits {
                        guard (0x30...0x39).contains(digit) else { throw Unusual() }
                        value = value * 10 + UInt64(digit - 0x30)
                    }
                    timestamp = value
                } else if key.elementsEqual("payload".utf8) {
                    payload = try Base64.decode(try scanner.string())
                } else {
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
