import NIOCore

extension ServerMessage {
    /// Reads a message from JSON text, as `JSONDecoder` would, without Foundation: at 20,000
    /// replies a second, `JSONDecoder` was about 40% of the load client's CPU. Nil when the
    /// text is not one JSON object or a known field has the wrong type.
    public init?(json buffer: ByteBuffer) {
        let parsed: ServerMessage? = buffer.withUnsafeReadableBytes { bytes in
            var scanner = JSONScanner(bytes: bytes)
            return try? scanner.readMessage()
        }
        guard let parsed else { return nil }
        self = parsed
    }
}

/// A small JSON reader over bytes: enough for the server's flat messages, and any other
/// valid JSON value is skipped, not misread.
struct JSONScanner {
    struct Malformed: Error {}

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func readMessage() throws -> ServerMessage {
        var message = ServerMessage()
        try self.readObject { scanner, key in
            switch key {
            case "type": message.type = try scanner.readOptional { try $0.readString() }
            case "client_id": message.clientID = try scanner.readOptional { try $0.readInteger() as UInt64 }
            case "seq": message.seq = try scanner.readOptional { try $0.readInteger() as UInt64 }
            case "chunk_size": message.chunkSize = try scanner.readOptional { try $0.readInteger() as Int }
            case "transcription": message.transcription = try scanner.readOptional { try $0.readString() }
            case "error": message.error = try scanner.readErrorBody()
            case "start_ms": message.startMs = try scanner.readOptional { try $0.readInteger() as Int64 }
            case "end_ms": message.endMs = try scanner.readOptional { try $0.readInteger() as Int64 }
            case "call_id": message.callID = try scanner.readOptional { try $0.readString() }
            case "resume_token": message.resumeToken = try scanner.readOptional { try $0.readString() }
            case "next_seq": message.nextSeq = try scanner.readOptional { try $0.readInteger() as UInt64 }
            case "chunks": message.chunks = try scanner.readOptional { try $0.readInteger() as Int }
            case "bytes": message.bytes = try scanner.readOptional { try $0.readInteger() as Int64 }
            case "duration_sec": message.durationSec = try scanner.readOptional { try $0.readDouble() }
            case "errors": message.errors = try scanner.readOptional { try $0.readInteger() as Int }
            case "seq_from": message.seqFrom = try scanner.readOptional { try $0.readInteger() as UInt64 }
            case "seq_to": message.seqTo = try scanner.readOptional { try $0.readInteger() as UInt64 }
            case "channel": message.channel = try scanner.readOptional { try $0.readInteger() as Int }
            case "text": message.text = try scanner.readOptional { try $0.readString() }
            case "words": message.words = try scanner.readOptional { try $0.readWords() }
            default: try scanner.skipValue()
            }
        }
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw Malformed() }
        return message
    }

    /// Our `{"code","message"}` object, or the original service's plain string; anything
    /// else reads as no error, as the `Codable` decoding does.
    private mutating func readErrorBody() throws -> ServerMessage.ErrorBody? {
        self.skipWhitespace()
        switch self.peek() {
        case UInt8(ascii: "\""):
            return ServerMessage.ErrorBody(code: "error", message: try self.readString())
        case UInt8(ascii: "{"):
            var code: String?
            var text: String?
            var wellTyped = true
            try self.readObject { scanner, key in
                scanner.skipWhitespace()
                guard key == "code" || key == "message", scanner.peek() == UInt8(ascii: "\"") else {
                    if key == "code" || key == "message" { wellTyped = false }
                    return try scanner.skipValue()
                }
                let value = try scanner.readString()
                if key == "code" { code = value } else { text = value }
            }
            guard wellTyped, let code, let text else { return nil }
            return ServerMessage.ErrorBody(code: code, message: text)
        default:
            try self.skipValue()
            return nil
        }
    }

    private func peek() -> UInt8? {
        self.index < self.bytes.count ? self.bytes[self.index] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = self.peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            self.index += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws {
        self.skipWhitespace()
        guard self.peek() == byte else { throw Malformed() }
        self.index += 1
    }

    private mutating func readLiteral(_ text: StaticString) throws {
        let count = text.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw Malformed() }
        for offset in 0..<count where self.bytes[self.index + offset] != text.utf8Start[offset] {
            throw Malformed()
        }
        self.index += count
    }

    /// `null` reads as nil, like `decodeIfPresent`.
    private mutating func readOptional<Value>(_ read: (inout JSONScanner) throws -> Value) throws -> Value? {
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "n") {
            try self.readLiteral("null")
            return nil
        }
        return try read(&self)
    }

    private mutating func readObject(_ member: (inout JSONScanner, String) throws -> Void) throws {
        try self.expect(UInt8(ascii: "{"))
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return
        }
        while true {
            self.skipWhitespace()
            let key = try self.readString()
            try self.expect(UInt8(ascii: ":"))
            try member(&self, key)
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"): self.index += 1; return
            default: throw Malformed()
            }
        }
    }

    private mutating func readArray(_ element: (inout JSONScanner) throws -> Void) throws {
        try self.expect(UInt8(ascii: "["))
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "]") {
            self.index += 1
            return
        }
        while true {
            try element(&self)
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"): self.index += 1; return
            default: throw Malformed()
            }
        }
    }

    /// A final's `[{"w","start_ms","end_ms"}]`; every field is required, as in `Word`'s decoding.
    private mutating func readWords() throws -> [ServerMessage.Word] {
        var words: [ServerMessage.Word] = []
        try self.readArray { scanner in
            var word: String?
            var start: Int64?
            var end: Int64?
            try scanner.readObject { scanner, key in
                switch key {
                case "w": word = try scanner.readString()
                case "start_ms": start = try scanner.readInteger() as Int64
                case "end_ms": end = try scanner.readInteger() as Int64
                default: try scanner.skipValue()
                }
            }
            guard let word, let start, let end else { throw Malformed() }
            words.append(ServerMessage.Word(w: word, startMs: start, endMs: end))
        }
        return words
    }

    /// An integer (no fraction or exponent: the fields read this way are counts) that fits `Value`.
    private mutating func readInteger<Value: FixedWidthInteger>() throws -> Value {
        self.skipWhitespace()
        let negative = self.peek() == UInt8(ascii: "-")
        if negative { self.index += 1 }
        var magnitude: UInt64 = 0
        var digits = 0
        while let byte = self.peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw Malformed() }
            magnitude = sum
            digits += 1
            self.index += 1
        }
        guard digits > 0 else { throw Malformed() }
        if let next = self.peek(), next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            throw Malformed()
        }
        let value: Value?
        if negative {
            value = magnitude <= UInt64(Int64.max) ? Value(exactly: -Int64(magnitude)) : nil
        } else {
            value = Value(exactly: magnitude)
        }
        guard let value else { throw Malformed() }
        return value
    }

    private mutating func readString() throws -> String {
        try self.expect(UInt8(ascii: "\""))
        let start = self.index
        // Fast path: no escapes.
        while let byte = self.peek(), byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw Malformed() }
            self.index += 1
        }
        guard let stop = self.peek() else { throw Malformed() }
        if stop == UInt8(ascii: "\"") {
            let plain = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index])
            self.index += 1
            guard let text = String(validating: plain, as: UTF8.self) else { throw Malformed() }
            return text
        }
        var utf8 = Array(self.bytes[start..<self.index])
        while true {
            guard let byte = self.peek() else { throw Malformed() }
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try Self.decodeUTF8(utf8)
            case UInt8(ascii: "\\"):
                try self.readEscape(into: &utf8)
            case ..<0x20:
                throw Malformed()
            default:
                utf8.append(byte)
            }
        }
    }

    private static func decodeUTF8(_ utf8: [UInt8]) throws -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else { throw Malformed() }
        return text
    }

    private mutating func readEscape(into utf8: inout [UInt8]) throws {
        guard let byte = self.peek() else { throw Malformed() }
        self.index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try self.readHex4())
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                try self.readLiteral("\\u")
                let low = UInt32(try self.readHex4())
                guard (0xDC00..<0xE000).contains(low) else { throw Malformed() }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw Malformed() }
            utf8.append(contentsOf: UTF8.encode(unicode)!)
        default:
            throw Malformed()
        }
    }

    private mutating func readHex4() throws -> UInt16 {
        guard self.index + 4 <= self.bytes.count else { throw Malformed() }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Malformed()
            }
            value = value << 4 | UInt16(digit)
            self.index += 1
        }
        return value
    }

    /// Skips one JSON value of any kind.
    private mutating func skipValue() throws {
        self.skipWhitespace()
        switch self.peek() {
        case UInt8(ascii: "\""):
            _ = try self.readString()
        case UInt8(ascii: "{"):
            try self.readObject { scanner, _ in try scanner.skipValue() }
        case UInt8(ascii: "["):
            try self.readArray { try $0.skipValue() }
        case UInt8(ascii: "t"): try self.readLiteral("true")
        case UInt8(ascii: "f"): try self.readLiteral("false")
        case UInt8(ascii: "n"): try self.readLiteral("null")
        case .some(let byte) where byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")):
            try self.skipNumber()
        default:
            throw Malformed()
        }
    }

    /// A JSON number as a Double (only `duration_sec` is read this way, once per session).
    private mutating func readDouble() throws -> Double {
        self.skipWhitespace()
        let start = self.index
        try self.skipNumber()
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw Malformed() }
        return value
    }

    private mutating func skipNumber() throws {
        let start = self.index
        while let byte = self.peek(),
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        {
            self.index += 1
        }
        guard self.index > start else { throw Malformed() }
    }
}
