import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import StreamClient

/// One Twilio Media Streams stream of the load client (`--twilio`), as Twilio sends it:
/// `connected`, `start` (both tracks), then every 20 ms one `media` event per track —
/// inbound the WAV's μ-law, outbound μ-law silence — and `stop`. It succeeds when the server
/// sent nothing but its close, 1000, after `stop`.
///
/// Confinement: everything runs on `eventLoop`.
final class TwilioStream: @unchecked Sendable {
    struct Outcome: Sendable {
        var callSid: String
        var mediaSent = 0
        var closeCode: UInt16?
        /// Data frames from the server (Twilio would not accept any).
        var dataFrames = 0
        var closedEarly = false
    }

    private let configuration: LoadConfiguration
    /// The inbound track's payloads, base64, one per 20 ms.
    private let payloads: [String]
    private let silence: String
    private let eventLoop: any EventLoop
    private let finished: EventLoopPromise<Outcome>
    private var outcome: Outcome
    private var channel: (any Channel)?
    private var next = 0
    private var sequence = 0
    private var timer: RepeatedTask?

    init(index: Int, configuration: LoadConfiguration, payloads: [String], eventLoop: any EventLoop) {
        self.configuration = configuration
        self.payloads = payloads
        self.silence = Data(repeating: 0xFF, count: 160).base64EncodedString()
        self.eventLoop = eventLoop
        self.finished = eventLoop.makePromise()
        self.outcome = Outcome(callSid: "CA" + String(format: "%032x", index))
    }

    var result: EventLoopFuture<Outcome> { self.finished.futureResult }
    var streamSid: String { "MZ" + self.outcome.callSid.dropFirst(2) }

    func run() async throws {
        let stream = self
        let channel = try await self.configuration.connect(on: self.eventLoop) { TwilioFrameHandler(stream: stream) }
        try await self.eventLoop.submit {
            self.channel = channel
            self.send([
                #"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
                self.event(
                    "start",
                    #""start":{"streamSid":"\#(self.streamSid)","accountSid":"AC00000000000000000000000000000000","callSid":"\#(self.outcome.callSid)","tracks":["inbound","outbound"],"customParameters":{"from":"+15550100001","to":"+15550100002"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}"#
                ),
            ])
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { _ in self.tick() }
        }.get()
    }

    private func event(_ name: String, _ body: String) -> String {
        self.sequence += 1
        return #"{"event":"\#(name)","sequenceNumber":"\#(self.sequence)",\#(body),"streamSid":"\#(self.streamSid)"}"#
    }

    /// The next 20 ms of both tracks, or `stop` after the last.
    private func tick() {
        guard self.next < self.payloads.count else {
            self.timer?.cancel()
            self.send([self.event("stop", #""stop":{"accountSid":"AC00000000000000000000000000000000","callSid":"\#(self.outcome.callSid)"}"#)])
            return
        }
        let timestamp = self.next * 20
        let chunk = self.next + 1
        self.send([
            self.event(
                "media",
                #""media":{"track":"inbound","chunk":"\#(chunk)","timestamp":"\#(timestamp)","payload":"\#(self.payloads[self.next])"}"#
            ),
            self.event("media", #""media":{"track":"outbound","chunk":"\#(chunk)","timestamp":"\#(timestamp)","payload":"\#(self.silence)"}"#),
        ])
        self.outcome.mediaSent += 2
        self.next += 1
    }

    private func send(_ texts: [String]) {
        guard let channel = self.channel else { return }
        for text in texts {
            channel.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)), promise: nil)
        }
        channel.flush()
    }

    func received(_ frame: WebSocketFrame) {
        switch frame.opcode {
        case .text, .binary:
            self.outcome.dataFrames += 1
        case .connectionClose:
            var data = frame.unmaskedData
            self.outcome.closeCode = data.readInteger(as: UInt16.self)
            self.channel?.close(promise: nil)
        default:
            break
        }
    }

    func closed() {
        self.timer?.cancel()
        if self.outcome.closeCode == nil { self.outcome.closedEarly = true }
        self.finished.succeed(self.outcome)
    }

    func timeOut() {
        self.eventLoop.execute { self.channel?.close(promise: nil) }
    }
}

final class TwilioFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let stream: TwilioStream

    init(stream: TwilioStream) {
        self.stream = stream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.stream.received(Self.unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stream.closed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
