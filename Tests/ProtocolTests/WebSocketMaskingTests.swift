import NIOCore
import Protocol
import Testing

@Suite struct WebSocketMaskingTests {
    /// Word-wise masking must equal the RFC 6455 definition, byte i XOR key[i % 4], at every
    /// length around the 8-byte steps and with a payload that starts mid-buffer.
    @Test func matchesTheByteWiseDefinition() {
        let key: (UInt8, UInt8, UInt8, UInt8) = (0x12, 0xA5, 0x00, 0xFF)
        let keyArray = [key.0, key.1, key.2, key.3]
        for length in 0...40 {
            var source = ByteBuffer()
            source.writeBytes([9, 9, 9])
            source.writeBytes((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
            source.moveReaderIndex(forwardBy: 3)
            var masked = ByteBuffer(string: "prefix")
            WebSocketMasking.append(source, maskedWith: key, to: &masked)
            let plain = Array(source.readableBytesView)
            #expect(masked.readString(length: 6) == "prefix")
            #expect(Array(masked.readableBytesView) == plain.enumerated().map { $0.element ^ keyArray[$0.offset % 4] })
            var unmasked = ByteBuffer()
            WebSocketMasking.append(masked, maskedWith: key, to: &unmasked)
            #expect(Array(unmasked.readableBytesView) == plain)
        }
    }
}
