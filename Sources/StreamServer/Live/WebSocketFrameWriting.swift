import NIOCore
import NIOWebSocket

/// Server-to-client WebSocket frames written straight into an outgoing buffer, so that every
/// message ready at one moment (acks, transcripts) leaves in one buffer and one `write`.
extension ByteBuffer {
    /// Appends one unmasked, final frame whose payload `body` writes (RSV1 set when `compressed`:
    /// RFC 7692). The payload length is only
    /// known afterwards, so the body goes behind room for the largest header and is then moved
    /// up against the (minimal, as RFC 6455 requires) header actually needed.
    mutating func writeServerFrame(opcode: WebSocketOpcode, compressed: Bool = false, body: (inout ByteBuffer) -> Void) {
        let start = self.writerIndex
        let maxHeader = 10
        self.writeRepeatingByte(0, count: maxHeader)
        body(&self)
        let payloadLength = self.writerIndex - start - maxHeader
        let headerLength = payloadLength < 126 ? 2 : (payloadLength <= 0xFFFF ? 4 : 10)
        if headerLength < maxHeader {
            _ = try! self.copyBytes(at: start + maxHeader, to: start + headerLength, length: payloadLength)
            self.moveWriterIndex(to: start + headerLength + payloadLength)
        }
        self.setInteger(0x80 | (compressed ? 0x40 : 0) | UInt8(webSocketOpcode: opcode), at: start)
        switch headerLength {
        case 2:
            self.setInteger(UInt8(payloadLength), at: start + 1)
        case 4:
            self.setInteger(UInt8(126), at: start + 1)
            self.setInteger(UInt16(payloadLength), at: start + 2)
        default:
            self.setInteger(UInt8(127), at: start + 1)
            self.setInteger(UInt64(payloadLength), at: start + 2)
        }
    }

}
