import NIOCore

/// The session messages of `/api/audio/ws` (`started`, `resumed`, `stopped`): once per session
/// or reconnect, so written with plain string building, not the per-chunk fast path.
extension ByteBuffer {
    /// `{"type":"started","client_id":7,"call_id":"…"|null,"resume_token":"…","codecs":[…],"max_chunk_bytes":N}`
    public mutating func writeStartedJSON(clientID: UInt64, callID: String?, resumeToken: String, maxChunkBytes: Int) {
        self.writeStaticString(#"{"type":"started","client_id":"#)
        self.writeDecimal(clientID)
        self.writeStaticString(#","call_id":"#)
        self.writeOptionalJSONString(callID)
        self.writeStaticString(#","resume_token":"#)
        self.writeJSONString(resumeToken)
        self.writeStaticString(#","codecs":["#)
        for (index, codec) in StreamFormat.Codec.allCases.enumerated() {
            if index > 0 { self.writeStaticString(",") }
            self.writeJSONString(codec.name)
        }
        self.writeStaticString(#"],"max_chunk_bytes":"#)
        self.writeDecimal(UInt64(maxChunkBytes))
        self.writeStaticString("}")
    }

    /// `{"type":"resumed","client_id":7,"call_id":"…"|null,"next_seq":M}`
    public mutating func writeResumedJSON(clientID: UInt64, callID: String?, nextSeq: UInt64) {
        self.writeStaticString(#"{"type":"resumed","client_id":"#)
        self.writeDecimal(clientID)
        self.writeStaticString(#","call_id":"#)
        self.writeOptionalJSONString(callID)
        self.writeStaticString(#","next_seq":"#)
        self.writeDecimal(nextSeq)
        self.writeStaticString("}")
    }

    /// `{"type":"stopped","call_id":"…"|null,"chunks":N,"bytes":N,"duration_sec":D,"errors":N}`
    public mutating func writeStoppedJSON(callID: String?, chunks: Int, bytes: Int64, durationSec: Double, errors: Int) {
        self.writeStaticString(#"{"type":"stopped","call_id":"#)
        self.writeOptionalJSONString(callID)
        self.writeStaticString(#","chunks":"#)
        self.writeDecimal(UInt64(chunks))
        self.writeStaticString(#","bytes":"#)
        self.writeDecimal(UInt64(bytes))
        self.writeStaticString(#","duration_sec":"#)
        self.writeString(durationSec.isFinite ? "\(durationSec)" : "0")
        self.writeStaticString(#","errors":"#)
        self.writeDecimal(UInt64(errors))
        self.writeStaticString("}")
    }

    private mutating func writeOptionalJSONString(_ text: String?) {
        if let text {
            self.writeJSONString(text)
        } else {
            self.writeStaticString("null")
        }
    }
}
