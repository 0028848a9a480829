import Foundation
import NIOCore
import Telephony
import Testing

@Suite struct AudioSocketMessageTests {
    private static func message(_ kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [kind, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
    }

    @Test func aStreamOfMessagesIsFramedWhateverHowItIsSplit() throws {
        let uuid = UUID(uuidString: "7C9E6679-7425-40DE-944B-E07FC1F90AE7")!
        let bytes =
            Self.message(0x01, withUnsafeBytes(of: uuid.uuid) { Array($0) })
            + Self.message(0x10, [UInt8](repeating: 7, count: 320))
            + Self.message(0x12, [1, 2, 3, 4])
            + Self.message(0x03, [UInt8(ascii: "5")])
            + Self.message(0xFF, [0x02])
            + Self.message(0x00, [])
        for split in [1, 2, 3, 5, 100, bytes.count] {
            var buffer = ByteBuffer()
            var messages: [AudioSocketMessage] = []
            for start in stride(from: 0, to: bytes.count, by: split) {
                buffer.writeBytes(bytes[start..<min(start + split, bytes.count)])
                while let message = try AudioSocketMessage.read(from: &buffer) { messages.append(message) }
            }
            #expect(
                messages == [
                    .uuid(uuid), .audio(sampleRate: 8000, ByteBuffer(repeating: 7, count: 320)),
                    .audio(sampleRate: 16000, ByteBuffer(bytes: [1, 2, 3, 4])),
                    .dtmf(UInt8(ascii: "5")), .error(ByteBuffer(bytes: [0x02])), .hangup,
                ],
                "split \(split)"
            )
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test(
        arguments: [
            (UInt8(0x42), [UInt8](repeating: 0, count: 4)),  // unknown kind
            (UInt8(0x01), [UInt8](repeating: 0, count: 5)),  // a UUID is 16 bytes
            (UInt8(0x10), [UInt8]([1, 2, 3])),  // half a sample
            (UInt8(0x10), [UInt8]()),  // no audio
            (UInt8(0x03), [UInt8]([1, 2])),  // one digit at a time
        ] as [(UInt8, [UInt8])]
    )
    func malformedMessagesAreRefusedAndNotConsumed(kind: UInt8, payload: [UInt8]) {
        var buffer = ByteBuffer(bytes: Self.message(kind, payload))
        #expect(throws: AudioSocketMessage.Malformed.self) { try AudioSocketMessage.read(from: &buffer) }
        #expect(buffer.readableBytes == 3 + payload.count)
    }
}
