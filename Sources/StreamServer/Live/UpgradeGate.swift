import NIOCore
import NIOHTTP1

/// Decides, before NIO's upgrade handler sees the first request, whether its WebSocket upgrade
/// will be taken; a request that will not keep its `Upgrade` header goes on as plain HTTP, and
/// the routes explain the refusal in the usual JSON shape (404 for a path that has no stream,
/// 401, 403, 503, 400).
///
/// Why: NIO's typed upgrade handler drops the request head when every upgrader declines, so a
/// refused upgrade got no HTTP answer at all. Here it only ever sees upgrades it will accept.
/// The head is marked (`refusedUpgradeHeader`), so the routes can tell a refused upgrade from a
/// plain GET. The gate leaves the pipeline after the first head: later requests on the
/// connection are never upgrades.
final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// Set on a head whose upgrade was refused; a client's own copy is removed.
    static let refusedUpgradeHeader = "X-CallStream-Refused-Upgrade"

    /// Whether to take this upgrade (it may reserve resources for `channel`).
    private let accept: (HTTPRequestHead, any Channel) -> Bool

    init(accept: @escaping (HTTPRequestHead, any Channel) -> Bool) {
        self.accept = accept
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = Self.unwrapInboundIn(data) else {
            return context.fireChannelRead(data)
        }
        head.headers.remove(name: Self.refusedUpgradeHeader)
        if head.headers.contains(name: "Upgrade"), !(Self.isWellFormedWebSocketUpgrade(head) && self.accept(head, context.channel)) {
            let requested = head.headers["Upgrade"].joined(separator: ", ")
            head.headers.remove(name: "Upgrade")
            head.headers.add(name: Self.refusedUpgradeHeader, value: requested)
        }
        context.fireChannelRead(Self.wrapInboundOut(.head(head)))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// RFC 6455 §4.2.1: a GET with `Upgrade: websocket`, `Connection: Upgrade`, one key and
    /// version 13 (what NIO's upgrader would otherwise fail on without an answer).
    static func isWellFormedWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        let upgrade = head.headers[canonicalForm: "Upgrade"].map { $0.lowercased() }
        let connection = head.headers[canonicalForm: "Connection"].map { $0.lowercased() }
        return head.method == .GET && upgrade == ["websocket"] && connection.contains("upgrade")
            && head.headers["Sec-WebSocket-Key"].count == 1 && head.headers["Sec-WebSocket-Version"] == ["13"]
    }
}
