import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import WebSocketDeflate

/// Hummingbird's per-connection setup for our server: HTTP/1.1 for every route, and on
/// `GET /api/audio/ws` with an upgrade, a WebSocket whose frames go to `AudioStreamHandler`,
/// a plain channel handler on the event loop.
///
/// Why not HummingbirdWebSocket's handler API: it runs each connection as a tree of Swift
/// tasks (≈20 KiB of task stacks per idle stream) and flushes once per written message. Here
/// an upgraded connection keeps no task at all, and writes are coalesced per read/batch.
/// The WebSocket codec is the same (NIOWebSocket).
struct LiveStreamChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        case webSocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    static let path = "/api/audio/ws"
    /// The echo endpoint `--test-echo-endpoint` adds, for Autobahn|Testsuite's data cases.
    static let echoPath = "/api/test/echo"

    let responder: HTTPChannelHandler.Responder
    let streams: LiveStreams
    let sessions: LiveSessions
    let workers: WorkerPool
    /// For live subscribers: whether the call is private.
    let repository: any CallRepository
    let requestBodyTimeout: TimeAmount
    /// How long a connection may take to send a request's head (`--request-timeout`).
    let requestTimeout: TimeAmount
    let access: AccessPolicy
    /// Behind TLS (`--tls-cert`): requests are `https`.
    let secure: Bool
    let logger: Logger
    /// Offer permessage-deflate to clients that ask (`--ws-compression`).
    let compression: Bool
    let echoEndpoint: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let streams = self.streams
            let sessions = self.sessions
            let workers = self.workers
            let streamLogger = self.logger
            let requestBodyTimeout = self.requestBodyTimeout
            let requestTimeout = self.requestTimeout
            let access = self.access
            let secure = self.secure
            // The upgrade request's id (`X-Request-Id`): sent back in the 101, carried by the
            // stream's log lines.
            let requestID = NIOLoopBoundBox<String?>(nil, eventLoop: channel.eventLoop)
            let deflate = NIOLoopBoundBox<PerMessageDeflate.Parameters?>(nil, eventLoop: channel.eventLoop)
            let echo = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let twilio = NIOLoopBoundBox<TwilioIngress?>(nil, eventLoop: channel.eventLoop)
            let subscription = NIOLoopBoundBox<(UUID, TranscriptFeed)?>(nil, eventLoop: channel.eventLoop)
            let repository = self.repository
            let compression = self.compression
            let echoEndpoint = self.echoEndpoint
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                // One frame may carry a whole chunk; fragmented messages are limited by the handler.
                maxFrameSize: max(streams.limits.maxChunkBytes, streams.limits.maxTextBytes),
                // Only upgrades the `UpgradeGate` let through get here.
                shouldUpgrade: { channel, head in
                    let uri = URI(head.uri)
                    echo.value = uri.path == Self.echoPath
                    if let callID = Self.liveCallID(uri.path), let feed = sessions.feed(forCall: callID) {
                        subscription.value = (callID, feed)
                    }
                    if uri.path == TwilioIngress.path {
                        // Twilio cannot send a token with the upgrade; without one, its start must carry it.
                        let fields = HTTPFields(head.headers, splitCookie: false)
                        let authenticated = access.check(uri: uri, headers: fields, isUpgradePath: true) == nil
                        twilio.value = TwilioIngress(tokens: authenticated ? nil : access.tokens)
                    }
                    let id = RequestIDs.accept(head.headers.first(name: "X-Request-Id")) ?? RequestIDs.make()
                    requestID.value = id
                    var headers = HTTPHeaders([("X-Request-Id", id)])
                    if compression, subscription.value == nil,
                        let offer = PerMessageDeflate.negotiate(head.headers[canonicalForm: "Sec-WebSocket-Extensions"].joined(separator: ","))
                    {
                        deflate.value = offer
                        headers.add(name: "Sec-WebSocket-Extensions", value: offer.responseHeader)
                    }
                    return channel.eventLoop.makeSucceededFuture(headers)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        var logger = streamLogger
                        logger[metadataKey: "request_id"] = requestID.value.map { .string($0) }
                        // Our handler writes encoded frames straight to the encoder's context; no
                        // encoder, no stream (the upgrade fails and the connection closes).
                        let frameWriter = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
                        if let (callID, feed) = subscription.value {
                            try channel.pipeline.syncOperations.addHandler(
                                LiveSubscriberHandler(feed: feed, callID: callID, repository: repository, frameWriter: frameWriter, logger: logger)
                            )
                            return UpgradeResult.webSocket
                        }
                        let handler = AudioStreamHandler(
                            streams: streams,
                            sessions: sessions,
                            workers: workers,
                            logger: logger,
                            frameWriter: frameWriter,
                            deflate: try deflate.value.map { try PerMessageDeflate($0) },
                            echo: echo.value,
                            twilio: twilio.value
                        )
                        try channel.pipeline.syncOperations.addHandler(handler)
                        streams.metrics.connectionsAccepted.increment()
                        return UpgradeResult.webSocket
                    }
                }
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try channel.pipeline.syncOperations.addHandler(
                            RequestTimeoutHandler(headTimeout: requestTimeout, bodyTimeout: requestBodyTimeout, logger: streamLogger)
                        )
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<UpgradeResult>.self)
            let gate = UpgradeGate { head, channel in
                // Refused upgrades go on to the HTTP routes, which explain why (503 while draining
                // or full, 401 without a token, 403 from a foreign origin, 404 elsewhere).
                let uri = URI(head.uri)
                let path = uri.path
                let fields = HTTPFields(head.headers, splitCookie: false)
                let allowed =
                    path == TwilioIngress.path
                    ? access.allowsOrigin(fields[.origin])
                    : access.check(uri: uri, headers: fields, isUpgradePath: true) == nil
                // A subscription only to a call being recorded now; the routes explain the rest.
                let isLiveCall = Self.liveCallID(path).map { sessions.feed(forCall: $0) != nil } ?? false
                return (path == Self.path || path == TwilioIngress.path || isLiveCall || (echoEndpoint && path == Self.echoPath))
                    && streams.isAccepting && allowed && streams.reserveConnection(for: channel)
            }
            try channel.pipeline.syncOperations.addHandler(gate, position: .before(upgradeHandler))
            // Slowloris: the first request's head must arrive in time; later ones are timed by
            // `RequestTimeoutHandler`.
            let headTimer = channel.eventLoop.scheduleTask(in: requestTimeout) {
                streamLogger.info(
                    "closing a connection whose request head did not arrive",
                    metadata: ["remote": "\(channel.remoteAddress?.description ?? "?")"]
                )
                channel.close(promise: nil)
            }
            result.whenComplete { _ in headTimer.cancel() }
            return Value(upgradeResult: result, channel: channel)
        }
    }

    /// The call of a `/calls/{id}/live` path.
    static func liveCallID(_ path: String) -> UUID? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "calls", parts[3] == "live" else { return nil }
        return UUID(uuidString: String(parts[2]))
    }

    /// Serves HTTP until the connection closes. An upgraded stream needs nothing from here:
    /// its handler lives in the channel pipeline, so this returns and keeps no task.
    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                return
            case .notUpgraded(let http1):
                await self.handleHTTP(asyncChannel: http1, logger: logger)
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
        }
    }
}

extension HTTPServerBuilder {
    static func liveStreams(
        streams: LiveStreams,
        sessions: LiveSessions,
        workers: WorkerPool,
        repository: any CallRepository,
        requestBodyTimeout: TimeAmount,
        requestTimeout: TimeAmount,
        access: AccessPolicy,
        secure: Bool,
        compression: Bool,
        echoEndpoint: Bool,
        logger: Logger
    ) -> HTTPServerBuilder {
        .init { responder in
            LiveStreamChannel(
                responder: { request, writer, channel in
                    // curl and most clients send `Expect: 100-continue` with large bodies (every
                    // upload over 1 MB) and wait up to a second for the go-ahead: give it.
                    if request.headers[.expect]?.lowercased() == "100-continue" {
                        try await writer.writeInformationalHead(HTTPResponse(status: .continue))
                    }
                    try await responder(request, writer, channel)
                },
                streams: streams,
                sessions: sessions,
                workers: workers,
                repository: repository,
                requestBodyTimeout: requestBodyTimeout,
                requestTimeout: requestTimeout,
                access: access,
                secure: secure,
                logger: logger,
                compression: compression,
                echoEndpoint: echoEndpoint
            )
        }
    }
}
