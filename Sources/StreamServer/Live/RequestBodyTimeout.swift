import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes an HTTP connection whose client stops sending in the middle of a request body, so
/// a stalled upload cannot hold its temporary file and its handler forever (closing ends the
/// body stream with an error, and the upload cleans up). Idle time between requests and slow
/// downloads are not affected: the clock only runs from a request's head to its end.
///
/// One timer per stalled request, not per read: reads only record the time, and the timer,
/// when it fires early, re-arms itself for what remains.
final class RequestBodyTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private let logger: Logger
    private var lastRead = NIODeadline.now()
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            self.lastRead = .now()
            self.arm(context: context, at: self.lastRead + self.timeout)
        case .body:
            self.lastRead = .now()
        case .end:
            self.timer?.cancel()
            self.timer = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    private func arm(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            let due = handler.lastRead + handler.timeout
            if due > .now() {
                handler.arm(context: context, at: due)
            } else {
                handler.logger.info(
                    "closing a connection whose request body stalled",
                    metadata: ["remote": "\(context.channel.remoteAddress?.description ?? "?")"]
                )
                context.close(promise: nil)
            }
        }
    }
}
