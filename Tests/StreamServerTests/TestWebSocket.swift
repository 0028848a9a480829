import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOPosix
import NIOWebSocket
import Protocol
import StreamClient
import Testing

/// A frame-level WebSocket client for tests: sends whatever frames a test wants (including
/// broken ones) and yields every frame the server sends.
struct TestWebSocket {
    let channel: any Channel
    private var frames: AsyncStream<WebSocketFrame>.AsyncIterator
    /// The code of the server's close frame, once one arrived.
    private(set) var closeCode: WebSocketErrorCode?
    private(set) var closeReason: String?

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = WebSocketFrame
        let continuation: AsyncStream<WebSocketFrame>.Continuation

        init(continuation: AsyncStream<WebSocketFrame>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.continuation.yield(Self.unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.continuation.finish()
        }
    }

    /// The headers of the server's 101 answer.
    let upgradeHeaders: [(String, String)]

    static func connect(port: Int, path: String = "/api/audio/ws", headers: [(String, String)] = []) async throws -> TestWebSocket {
        let (stream, continuation) = AsyncStream.makeStream(of: WebSocketFrame.self)
        let response = NIOLockedValueBox<[(String, String)]>([])
        let (channel, _) = try await WebSocketConnector.connect(
            host: "127.0.0.1",
            port: port,
            path: path,
            group: MultiThreadedEventLoopGroup.singleton,
            maxFrameSize: 16 << 20,
            headers: headers,
            onUpgrade: { head in response.withLockedValue { $0 = head.headers.map { ($0.name, $0.value) } } }
        ) { _ in (Collector(continuation: continuation), true) }
        // The collector sees `channelInactive` only if it was added while the channel was open:
        // a server that closes right after its 101 can beat it. The stream must end either way.
        channel.closeFuture.whenComplete { _ in continuation.finish() }
        return TestWebSocket(channel: channel, frames: stream.makeAsyncIterator(), upgradeHeaders: response.withLockedValue { $0 })
    }

    private init(channel: any Channel, frames: AsyncStream<WebSocketFrame>.AsyncIterator, upgradeHeaders: [(String, String)]) {
        self.channel = channel
        self.frames = frames
        self.upgradeHeaders = upgradeHeaders
    }

    func send(_ frame: WebSocketFrame) async throws {
        try await self.channel.writeAndFlush(frame)
    }

    func sendBinary(count: Int, fill: UInt8 = 0x5A) async throws {
        try await self.send(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(repeating: fill, count: count)))
    }

    func sendText(_ text: String) async throws {
        try await self.send(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)))
    }

    /// The next frame from the server, or nil once the connection is closed.
    mutating func nextFrame(timeout: Duration = .seconds(10)) async throws -> WebSocketFrame? {
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let frame = await self.frames.next()
        if let frame, frame.opcode == .connectionClose {
            var data = frame.unmaskedData
            self.closeCode = data.readWebSocketErrorCode()
            self.closeReason = data.readString(length: data.readableBytes)
        }
        return frame
    }

    /// The next JSON message, skipping control frames; nil once the server has closed.
    mutating func nextMessage(timeout: Duration = .seconds(10)) async throws -> ServerMessage? {
        while let frame = try await self.nextFrame(timeout: timeout) {
            switch frame.opcode {
            case .text:
                return try JSONDecoder().decode(ServerMessage.self, from: frame.unmaskedData)
            case .connectionClose:
                return nil
            default:
                continue
            }
        }
        return nil
    }

    /// Reads until the server's close frame (or the socket closing) and returns its code.
    mutating func waitForClose(timeout: Duration = .seconds(10)) async throws -> WebSocketErrorCode? {
        while let frame = try await self.nextFrame(timeout: timeout) {
            if frame.opcode == .connectionClose { break }
        }
        return self.closeCode
    }

    func close() async {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: .normalClosure)
        try? await self.send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data))
        // A server that never closes fails the test rather than hanging the suite.
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: .seconds(10)) {
            Issue.record("the server did not close the connection within 10 s of our close frame")
            channel.close(promise: nil)
        }
        try? await channel.closeFuture.get()
        timer.cancel()
    }
}
