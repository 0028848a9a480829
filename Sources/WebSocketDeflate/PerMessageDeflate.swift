import CompressNIO
import Foundation
import NIOCore

/// permessage-deflate (RFC 7692) for one connection, on either end: the negotiated parameters,
/// and a raw DEFLATE compressor and decompressor (zlib, through compress-nio) that keep their
/// context between messages unless a `*_no_context_takeover` was agreed. Shared by the server
/// and the load client (a library, so both ends are one tested implementation).
public final class PerMessageDeflate {
    public struct Parameters: Equatable, Sendable {
        public var serverNoContextTakeover = false
        public var clientNoContextTakeover = false
        /// The server's compressor window (the client may ask for a smaller one).
        public var serverMaxWindowBits = 15

        public init() {}

        /// The `Sec-WebSocket-Extensions` answer for these parameters.
        public var responseHeader: String {
            var header = "permessage-deflate"
            if self.serverNoContextTakeover { header += "; server_no_context_takeover" }
            if self.clientNoContextTakeover { header += "; client_no_context_takeover" }
            if self.serverMaxWindowBits < 15 { header += "; server_max_window_bits=\(self.serverMaxWindowBits)" }
            return header
        }
    }

    public enum Role: Sendable {
        case server, client
    }

    public enum Failure: Error {
        case corrupt
        case tooLarge
    }

    /// The first offer in `header` we can accept; nil if none (the connection then goes on
    /// uncompressed). An offer with an unknown, repeated or out-of-range parameter is declined,
    /// and so is `server_max_window_bits=8`, which zlib's raw DEFLATE cannot produce.
    public static func negotiate(_ header: String) -> Parameters? {
        offers: for offer in header.split(separator: ",") {
            let parts = offer.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.first == "permessage-deflate" else { continue }
            var parameters = Parameters()
            var seen = Set<String>()
            for part in parts.dropFirst() {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .init(charactersIn: " \t\"")) }
                let name = pair[0]
                guard seen.insert(name).inserted else { continue offers }
                let value = pair.count > 1 ? pair[1] : nil
                switch name {
                case "server_no_context_takeover" where value == nil:
                    parameters.serverNoContextTakeover = true
                case "client_no_context_takeover" where value == nil:
                    parameters.clientNoContextTakeover = true
                case "server_max_window_bits":
                    guard let value, let bits = Int(value), (9...15).contains(bits), value.first != "0" else { continue offers }
                    parameters.serverMaxWindowBits = bits
                case "client_max_window_bits":
                    // We inflate with the largest window, which reads any smaller one.
                    if let value { guard let bits = Int(value), (8...15).contains(bits), value.first != "0" else { continue offers } }
                default:
                    continue offers
                }
            }
            return parameters
        }
        return nil
    }

    public let parameters: Parameters
    private let compressor: ZlibCompressor
    private let decompressor: ZlibDecompressor
    /// Whether each end starts every message afresh.
    private let resetAfterSending: Bool
    private let resetAfterReceiving: Bool
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    public init(_ parameters: Parameters, role: Role = .server) throws {
        self.parameters = parameters
        let window = role == .server ? parameters.serverMaxWindowBits : 15
        // A small memory level: the messages are short JSON; a connection keeps both states.
        self.compressor = try ZlibCompressor(
            algorithm: .deflate,
            configuration: .init(windowSize: Int32(window), compressionLevel: 6, memoryLevel: 4)
        )
        self.decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
        self.resetAfterSending = role == .server ? parameters.serverNoContextTakeover : parameters.clientNoContextTakeover
        self.resetAfterReceiving = role == .server ? parameters.clientNoContextTakeover : parameters.serverNoContextTakeover
    }

    /// The parameters a server's `Sec-WebSocket-Extensions` answer agreed (client side).
    public static func accepted(_ header: String) -> Parameters? {
        Self.negotiate(header)
    }

    /// One received message's payload, inflated; throws `tooLarge` past `limit` bytes.
    public func inflate(_ payload: ByteBuffer, limit: Int) throws(Failure) -> ByteBuffer {
        var input = payload
        input.writeBytes(Self.tail)
        var output = ByteBufferAllocator().buffer(capacity: min(max(payload.readableBytes * 4, 256), limit + 1))
        do {
            while input.readableBytes > 0 {
                if output.writableBytes == 0 {
                    guard output.capacity <= limit else { throw Failure.tooLarge }
                    output.reserveCapacity(min(output.capacity * 2, limit + 1))
                }
                do {
                    try self.decompressor.inflate(from: &input, to: &output)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    continue
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    break
                }
            }
            guard output.readableBytes <= limit else { throw Failure.tooLarge }
            if self.resetAfterReceiving { try self.decompressor.reset() }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.corrupt
        }
        return output
    }

    /// One message to send, deflated with a sync flush and without its empty final block.
    public func deflate(_ message: ByteBuffer) -> ByteBuffer {
        var input = message
        var output = ByteBufferAllocator().buffer(capacity: self.compressor.maxSize(from: message))
        // maxSize leaves room for everything: a sync flush cannot overflow it.
        try? self.compressor.deflate(from: &input, to: &output, flush: .sync)
        if output.readableBytes >= 4, output.getBytes(at: output.writerIndex - 4, length: 4) == Self.tail {
            output.moveWriterIndex(to: output.writerIndex - 4)
        }
        if self.resetAfterSending { try? self.compressor.reset() }
        return output
    }
}
