import NIOCore
import NIOWebSocket
import Protocol

extension WebSocketFrame {
    /// The payload with the client's mask removed, as a new buffer (word-wise; NIO's
    /// `unmaskedData` goes byte by byte).
    var unmaskedPayload: ByteBuffer {
        guard let key = self.maskKey else { return self.data }
        var result = ByteBufferAllocator().buffer(capacity: self.data.readableBytes)
        WebSocketMasking.append(self.data, maskedWith: (key[0], key[1], key[2], key[3]), to: &result)
        return result
    }
}
