import Foundation
import NIOCore
import NIOWebSocket
import Protocol
import Testing

/// permessage-deflate (RFC 7692) with `--ws-compression`; Autobahn's 12.*/13.* cases run in
/// `scripts/autobahn-test.sh`.
@Suite struct CompressionTests {
    static let check = ContractTests.repository.appendingPathComponent("scripts/ws_compression_check.py").path

    @Test func pythonWebsocketsGetsDeflateOnlyWhenItIsOn() async throws {
        try await withServer(arguments: ["--ws-compression"]) { server in
            let (status, output) = try await runProcess("/usr/bin/env", ["python3", Self.check, server.url, "expect-deflate"])
            #expect(status == 0, "\(output)")
        }
        try await withServer { server in
            let (status, output) = try await runProcess("/usr/bin/env", ["python3", Self.check, server.url, "expect-plain"])
            #expect(status == 0, "\(output)")
        }
    }

    @Test func anOfferIsAnsweredWithTheAgreedParameters() async throws {
        try await withServer(arguments: ["--ws-compression"]) { server in
            func answer(_ offer: String) async throws -> String? {
                let socket = try await TestWebSocket.connect(port: server.port, headers: [("Sec-WebSocket-Extensions", offer)])
                let answer = socket.upgradeHeaders.first { $0.0.lowercased() == "sec-websocket-extensions" }?.1
                await socket.close()
                return answer
            }
            let plain = try await answer("permessage-deflate; client_max_window_bits")
            #expect(plain == "permessage-deflate")
            let narrow = try await answer("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
            #expect(narrow == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
            // An offer we cannot honour is declined; a later acceptable one is taken.
            let second = try await answer("permessage-deflate; server_max_window_bits=8, permessage-deflate")
            #expect(second == "permessage-deflate")
            let bogus = try await answer("permessage-deflate; bogus=1")
            #expect(bogus == nil)
            let other = try await answer("x-webkit-deflate-frame")
            #expect(other == nil)
        }
    }

    @Test func uncompressedFramesStillWorkAndRSV1WithoutDeflateIsRefused() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port, headers: [("Sec-WebSocket-Extensions", "permessage-deflate")])
            #expect(!socket.upgradeHeaders.contains { $0.0.lowercased() == "sec-websocket-extensions" })
            try await socket.send(WebSocketFrame(fin: true, rsv1: true, opcode: .binary, maskKey: .random(), data: ByteBuffer(bytes: [1, 2])))
            #expect(try await socket.waitForClose() == .protocolError)
        }
    }
}
