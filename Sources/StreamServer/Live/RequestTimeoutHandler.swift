import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Closes an HTTP connection whose client is too slow to be worth a socket:
/// - between requests, the next request's head must arrive within `headTimeout`
///   (`--request-timeout`; slowloris, and idle keep-alive connections), counted from the end
///   of the previous response (the first request's head is timed by `LiveStreamChannel`);
/// - within a request body, the client may not pause for more than `bodyTimeout`
///   (`--request-body-timeout`), so a stalled upload cannot hold its temporary file forever
///   (closing ends the body stream with an error, and the upload cleans up).
/// Slow downloads are not affected: no clock runs while only the server is sending.
///
/// One timer per waiting connection, not per read: reads only record the time, and the body
/// timer, when it fires early, re-arms itself for what remains.
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let logger: Logger
    private var lastRead = NIODeadline.now()
    private var requestOpen = false
    private var responseOpen = false
    private var headTimer: Scheduled<Void>?
    private var bodyTimer: Scheduled<Void>?

    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, logger: Logger) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            self.headTimer?.cancel()
            self.headTimer = nil
            self.requestOpen = true
            self.responseOpen = true
            self.lastRead = .now()
            self.armBodyTimer(context: context, at: self.lastRead + self.bodyTimeout)
        case .body:
            self.lastRead = .now()
        case .end:
            self.requestOpen = false
            self.bodyTimer?.cancel()
            self.bodyTimer = nil
            if !self.responseOpen { self.armHeadTimer(context: context) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) {
            self.responseOpen = false
            if !self.requestOpen { self.armHeadTimer(context: context) }
        }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.headTimer?.cancel()
        self.bodyTimer?.cancel()
        self.headTimer = nil
        self.bodyTimer = nil
    }

    private func armHeadTimer(context: ChannelHandlerContext) {
        self.headTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.headTimer = context.eventLoop.scheduleTask(in: self.headTimeout) {
            let (handler, context) = loopBound.value
            handler.headTimer = nil
            handler.logger.debug(
                "closing a connection that sent no request",
                metadata: ["remote": "\(context.channel.remoteAddress?.description ?? "?")"]
            )
            context.close(promise: nil)
        }
    }

    private func armBodyTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.bodyTimer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.bodyTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.bodyTimer = nil
            let due = handler.lastRead + handler.bodyTimeout
            if due > .now() {
                handler.armBodyTimer(context: context, at: due)
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
