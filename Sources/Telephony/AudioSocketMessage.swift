import Foundation
import NIOCore

/// One message of Asterisk's AudioSocket protocol (`res_audiosocket.h`): a 1-byte kind, a
/// 2-byte big-endian payload length, the payload.
public enum AudioSocketMessage: Equatable, Sendable {
    /// `0x00`: the call is over.
    case hangup
    /// `0x01`: the call's UUID, the first message.
    case uuid(UUID)
    /// `0x03`: a DTMF digit (ASCII).
    case dtmf(UInt8)
    /// `0x10`–`0x18`: signed linear 16-bit little-endian mono at `sampleRate`.
    case audio(sampleRate: Int, ByteBuffer)
    /// `0xff`: Asterisk reports an error (its payload: an error code).
    case error(ByteBuffer)

    /// The audio kinds and their rates (`0x10` is 8 kHz; the others came with Asterisk 22).
    public static let audioRates: [UInt8: Int] = [
        0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100, 0x16: 48000, 0x17: 96000, 0x18: 192000,
    ]

    public static let headerBytes = 3

    /// What is not AudioSocket (the connection is then closed).
    public struct Malformed: Error, Equatable, Sendable {
        public var reason: String
    }

    /// The next whole message in `buffer` (consumed), or nil until one has arrived.
    public static func read(from buffer: inout ByteBuffer) throws(Malformed) -> AudioSocketMessage? {
        guard let kind = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 1, endianness: .big, as: UInt16.self),
            buffer.readableBytes >= Self.headerBytes + Int(length)
        else { return nil }
        // Checked before anything is consumed: a malformed message leaves the buffer as it was.
        let payload = buffer.getSlice(at: buffer.readerIndex + Self.headerBytes, length: Int(length))!
        let message: AudioSocketMessage
        switch kind {
        case 0x00:
            message = .hangup
        case 0x01:
            guard length == 16 else { throw Malformed(reason: "a UUID message carries 16 bytes, not \(length)") }
            let bytes = Array(payload.readableBytesView)
            message = .uuid(
                UUID(
                    uuid: (
                        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11],
                        bytes[12], bytes[13], bytes[14], bytes[15]
                    )
                )
            )
        case 0x03:
            guard length == 1 else { throw Malformed(reason: "a DTMF message carries one byte, not \(length)") }
            message = .dtmf(payload.getInteger(at: payload.readerIndex)!)
        case 0xFF:
            message = .error(payload)
        default:
            guard let rate = Self.audioRates[kind] else {
                throw Malformed(reason: "unknown message kind 0x\(String(kind, radix: 16))")
            }
            guard length > 0, length % 2 == 0 else { throw Malformed(reason: "audio of \(length) bytes is not whole 16-bit samples") }
            message = .audio(sampleRate: rate, payload)
        }
        buffer.moveReaderIndex(forwardBy: Self.headerBytes + Int(length))
        return message
    }
}

/// Frames a TCP byte stream into `AudioSocketMessage`s; malformed input fails the channel.
public struct AudioSocketDecoder: ByteToMessageDecoder {
    public typealias InboundOut = AudioSocketMessage

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try AudioSocketMessage.read(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}
