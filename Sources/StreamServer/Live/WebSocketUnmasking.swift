import NIOCore
import NIOWebSocket

extension WebSocketFrame {
    /// The payload with the client's mask removed, as a new buffer. NIO's `unmaskedData`
    /// works one byte at a time; on 4 KiB audio chunks that was the server's largest single
    /// cost (16% of CPU in a profile of load (a)). This XORs eight bytes per step.
    var unmaskedPayload: ByteBuffer {
        guard let key = self.maskKey else { return self.data }
        let data = self.data
        let count = data.readableBytes
        let k0 = key[key.startIndex], k1 = key[key.startIndex + 1], k2 = key[key.startIndex + 2], k3 = key[key.startIndex + 3]
        let keyWord = UInt32(k0) | UInt32(k1) << 8 | UInt32(k2) << 16 | UInt32(k3) << 24
        // Little-endian memory order: byte i of the pattern is key[i % 4].
        let pattern = UInt64(keyWord) | UInt64(keyWord) << 32
        let keyBytes = (k0, k1, k2, k3)
        var result = ByteBufferAllocator().buffer(capacity: count)
        result.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { destination in
            data.withUnsafeReadableBytes { source in
                var index = 0
                while index + 8 <= count {
                    let word = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    destination.storeBytes(of: (UInt64(littleEndian: word) ^ pattern).littleEndian, toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < count {
                    let keyByte: UInt8
                    switch index & 3 {
                    case 0: keyByte = keyBytes.0
                    case 1: keyByte = keyBytes.1
                    case 2: keyByte = keyBytes.2
                    default: keyByte = keyBytes.3
                    }
                    destination[index] = source[index] ^ keyByte
                    index += 1
                }
            }
            return count
        }
        return result
    }
}
