import NIOCore

/// Writes the server's fixed-shape JSON messages straight into a buffer: no reflection, no
/// intermediate strings. `ServerMessage` decodes all of them (see the round-trip tests).
extension ByteBuffer {
    /// `{"type":"ack","client_id":7,"seq":1,"chunk_size":4096}`
    public mutating func writeAckJSON(clientID: UInt64, seq: UInt64, chunkSize: Int) {
        self.writeStaticString(#"{"type":"ack","client_id":"#)
        self.writeDecimal(clientID)
        self.writeStaticString(#","seq":"#)
        self.writeDecimal(seq)
        self.writeStaticString(#","chunk_size":"#)
        self.writeDecimal(UInt64(chunkSize))
        self.writeStaticString("}")
    }

    /// `{"type":"transcript","client_id":7,"seq":1,"transcription":"..."}`
    public mutating func writeTranscriptJSON(clientID: UInt64, seq: UInt64, text: String) {
        self.writeTranscriptFields(clientID: clientID, seq: seq, text: text)
        self.writeStaticString("}")
    }

    /// A started session's transcript: `{"type":"transcript","client_id":7,"seq":1,"transcription":"...","start_ms":0,"end_ms":100}`
    public mutating func writeTranscriptJSON(clientID: UInt64, seq: UInt64, text: String, startMs: Int64, endMs: Int64) {
        self.writeTranscriptFields(clientID: clientID, seq: seq, text: text)
        self.writeStaticString(#","start_ms":"#)
        self.writeDecimal(UInt64(max(startMs, 0)))
        self.writeStaticString(#","end_ms":"#)
        self.writeDecimal(UInt64(max(endMs, 0)))
        self.writeStaticString("}")
    }

    /// The fields every transcript has, without the closing brace.
    private mutating func writeTranscriptFields(clientID: UInt64, seq: UInt64, text: String) {
        self.writeStaticString(#"{"type":"transcript","client_id":"#)
        self.writeDecimal(clientID)
        self.writeStaticString(#","seq":"#)
        self.writeDecimal(seq)
        self.writeStaticString(#","transcription":"#)
        self.writeJSONString(text)
    }

    /// `{"type":"error","seq":3,"error":{"code":"...","message":"..."}}` (seq only when the error is about a chunk)
    public mutating func writeErrorJSON(code: String, message: String, seq: UInt64? = nil) {
        self.writeStaticString(#"{"type":"error","#)
        if let seq {
            self.writeStaticString(#""seq":"#)
            self.writeDecimal(seq)
            self.writeStaticString(",")
        }
        self.writeStaticString(#""error":"#)
        self.writeErrorObjectJSON(code: code, message: message)
        self.writeStaticString("}")
    }

    /// `{"code":"...","message":"..."}`: the error object every client-facing error carries
    /// (WebSocket error messages and HTTP error bodies alike).
    public mutating func writeErrorObjectJSON(code: String, message: String) {
        self.writeStaticString(#"{"code":"#)
        self.writeJSONString(code)
        self.writeStaticString(#","message":"#)
        self.writeJSONString(message)
        self.writeStaticString("}")
    }

    /// A closed segment of a live session, decoded:
    /// `{"type":"final","client_id":7,"seq_from":3,"seq_to":9,"start_ms":200,"end_ms":2400,"channel":0,"text":"...","words":[{"w":"hello","start_ms":250,"end_ms":600}]}`
    /// (`words` only when the engine gives word times).
    public mutating func writeFinalJSON(clientID: UInt64, seqFrom: UInt64, seqTo: UInt64, segment: RecognizedSegment) {
        self.writeStaticString(#"{"type":"final","client_id":"#)
        self.writeDecimal(clientID)
        self.writeStaticString(#","seq_from":"#)
        self.writeDecimal(seqFrom)
        self.writeStaticString(#","seq_to":"#)
        self.writeDecimal(seqTo)
        self.writeStaticString(#","start_ms":"#)
        self.writeDecimal(UInt64(segment.startMs))
        self.writeStaticString(#","end_ms":"#)
        self.writeDecimal(UInt64(segment.endMs))
        self.writeStaticString(#","channel":"#)
        self.writeDecimal(UInt64(segment.channel))
        self.writeStaticString(#","text":"#)
        self.writeJSONString(segment.text)
        if !segment.words.isEmpty {
            self.writeStaticString(#","words":["#)
            for (index, word) in segment.words.enumerated() {
                if index > 0 { self.writeStaticString(",") }
                self.writeStaticString(#"{"w":"#)
                self.writeJSONString(word.word)
                self.writeStaticString(#","start_ms":"#)
                self.writeDecimal(UInt64(word.startMs))
                self.writeStaticString(#","end_ms":"#)
                self.writeDecimal(UInt64(word.endMs))
                self.writeStaticString("}")
            }
            self.writeStaticString("]")
        }
        self.writeStaticString("}")
    }

    /// `{"type":"pong"}`
    public mutating func writePongJSON() {
        self.writeStaticString(#"{"type":"pong"}"#)
    }

    /// Writes an unsigned integer in decimal without allocating.
    public mutating func writeDecimal(_ value: UInt64) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { pointer in
            var value = value
            for index in stride(from: digits - 1, through: 0, by: -1) {
                pointer[index] = UInt8(truncatingIfNeeded: value % 10) &+ UInt8(ascii: "0")
                value /= 10
            }
            return digits
        }
    }

    /// Writes `text` as a quoted JSON string, escaping quotes, backslashes and control characters.
    public mutating func writeJSONString(_ text: String) {
        self.writeStaticString("\"")
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index {
                    self.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<index])))
                }
                switch byte {
                case UInt8(ascii: "\""): self.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): self.writeStaticString("\\\\")
                case UInt8(ascii: "\n"): self.writeStaticString("\\n")
                case UInt8(ascii: "\r"): self.writeStaticString("\\r")
                case UInt8(ascii: "\t"): self.writeStaticString("\\t")
                default:
                    self.writeStaticString("\\u00")
                    let hex: StaticString = "0123456789abcdef"
                    self.writeInteger(hex.utf8Start[Int(byte >> 4)])
                    self.writeInteger(hex.utf8Start[Int(byte & 0xF)])
                }
                runStart = index + 1
            }
            if runStart < utf8.count {
                self.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count])))
            }
        }
        self.writeStaticString("\"")
    }
}
