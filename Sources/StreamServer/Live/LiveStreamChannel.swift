import HTTPTypes
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
    let requestBodyTimeout: TimeAmount
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
            // The upgrade request's id (`X-Request-Id`): sent back in the 101, carried by the
            // stream's log lines.
            let requestID = NIOLoopBoundBox<String?>(nil, eventLoop: channel.eventLoop)
            let deflate = NIOLoopBoundBox<PerMessageDeflate.Parameters?>(nil, eventLoop: channel.eventLoop)
            let echo = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let compression = self.compression
            let echoEndpoint = self.echoEndpoint
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                // One frame may carry a whole chunk; fragmented messages are limited by the handler.
                maxFrameSize: max(streams.limits.maxChunkBytes, streams.limits.maxTextBytes),
                shouldUpgrade: { channel, head in
                    // Refused upgrades fall through to the HTTP routes, which explain why (503 while draining).
                    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    let accept = (path == Self.path || (echoEndpoint && path == Self.echoPath)) && streams.isAccepting
                    guard accept else { return channel.eventLoop.makeSucceededFuture(nil) }
                    echo.value = path == Self.echoPath
                    let id = RequestIDs.accept(head.headers.first(name: "X-Request-Id")) ?? RequestIDs.make()
                    requestID.value = id
                    var headers = HTTPHeaders([("X-Request-Id", id)])
                    if compression,
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
                        let handler = AudioStreamHandler(
                            streams: streams,
                            sessions: sessions,
                            workers: workers,
                            logger: logger,
                            deflate: try deflate.value.map { try PerMessageDeflate($0) },
                            echo: echo.value
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
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(RequestBodyTimeoutHandler(timeout: requestBodyTimeout, logger: streamLogger))
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
            return Value(upgradeResult: result, channel: channel)
        }
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
        requestBodyTimeout: TimeAmount,
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
                requestBodyTimeout: requestBodyTimeout,
                logger: logger,
                compression: compression,
                echoEndpoint: echoEndpoint
            )
        }
    }
}
