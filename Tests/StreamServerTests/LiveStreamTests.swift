import NIOCore
import NIOWebSocket
import Protocol
import Testing

/// The WebSocket protocol of `/api/audio/ws`, against a real server and real workers.
@Suite struct LiveStreamTests {
    @Test func aClientGetsAnAckThenATranscriptForEveryChunkInOrder() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            var checker = StreamChecker()
            for size in [4096, 1, 3000] {
                _ = checker.didSend(size: size)
                try await socket.sendBinary(count: size)
            }
            var clientIDs: Set<UInt64> = []
            while !checker.isComplete, let message = try await socket.nextMessage() {
                if case .violation(let why) = checker.receive(message) { Issue.record("\(why)") }
                if let id = message.clientID { clientIDs.insert(id) }
            }
            #expect(checker.isComplete)
            #expect(clientIDs.count == 1)
            #expect(clientIDs.first! > 0)
            await socket.close()
        }
    }

    @Test func manyConcurrentClientsWithVariedChunkSizesKeepOrderAndCounts() async throws {
        try await withServer(workers: 2) { server in
            let clients = 24
            let ids = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for client in 0..<clients {
                    group.addTask {
                        var socket = try await TestWebSocket.connect(port: server.port)
                        var checker = StreamChecker()
                        for index in 0..<40 {
                            let size = 1 + (client * 977 + index * 131) % 20_000
                            _ = checker.didSend(size: size)
                            try await socket.sendBinary(count: size)
                        }
                        while !checker.isComplete, let message = try await socket.nextMessage() {
                            if case .violation(let why) = checker.receive(message) { Issue.record("\(why)") }
                        }
                        #expect(checker.isComplete)
                        #expect(checker.counts.violations == 0)
                        await socket.close()
                        return checker.clientID ?? 0
                    }
                }
                return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
            }
            #expect(ids.count == clients, "every connection has its own client_id")
        }
    }

    @Test func clientIdsAreNotReusedAfterDisconnect() async throws {
        try await withServer { server in
            var seen: [UInt64] = []
            for _ in 0..<3 {
                var socket = try await TestWebSocket.connect(port: server.port)
                try await socket.sendBinary(count: 10)
                let ack = try #require(try await socket.nextMessage())
                seen.append(try #require(ack.clientID))
                await socket.close()
            }
            #expect(Set(seen).count == 3)
            #expect(seen == seen.sorted())
        }
    }

    @Test func pingGetsPong() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            try await socket.sendText(#"{"type":"ping"}"#)
            let reply = try #require(try await socket.nextMessage())
            #expect(reply.type == "pong")
            await socket.close()
        }
    }

    @Test func malformedControlMessagesGetErrorsAndTheStreamStaysUsable() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            try await socket.sendText("not json")
            let notJSON = try #require(try await socket.nextMessage())
            #expect(notJSON.type == "error")
            #expect(notJSON.error?.code == "invalid_message")
            try await socket.sendText(#"{"type":"dance"}"#)
            let unknown = try #require(try await socket.nextMessage())
            #expect(unknown.error?.code == "unknown_type")
            // Still usable: a chunk gets seq 1 (text messages do not count).
            try await socket.sendBinary(count: 100)
            let ack = try #require(try await socket.nextMessage())
            #expect(ack.kind == .ack)
            #expect(ack.seq == 1)
            let transcript = try #require(try await socket.nextMessage())
            #expect(transcript.transcription == MockTranscript.text(clientID: ack.clientID!, seq: 1, byteCount: 100))
            await socket.close()
        }
    }

    @Test func anOversizeChunkClosesOnlyThatStreamWith1009() async throws {
        try await withServer(arguments: ["--max-chunk-bytes", "65536"]) { server in
            var bystander = try await TestWebSocket.connect(port: server.port)
            var offender = try await TestWebSocket.connect(port: server.port)
            try await offender.sendBinary(count: 65537)
            #expect(try await offender.waitForClose() == .messageTooLarge)
            // A fragmented message that grows past the limit is refused the same way.
            var fragmented = try await TestWebSocket.connect(port: server.port)
            try await fragmented.send(WebSocketFrame(fin: false, opcode: .binary, maskKey: .random(), data: ByteBuffer(repeating: 1, count: 40000)))
            try await fragmented.send(
                WebSocketFrame(fin: true, opcode: .continuation, maskKey: .random(), data: ByteBuffer(repeating: 1, count: 40000))
            )
            #expect(try await fragmented.waitForClose() == .messageTooLarge)
            // The other stream is untouched, and a chunk of exactly the limit is fine.
            try await bystander.sendBinary(count: 65536)
            let ack = try #require(try await bystander.nextMessage())
            #expect(ack.chunkSize == 65536)
            let transcript = try #require(try await bystander.nextMessage())
            #expect(transcript.kind == .transcript)
            await bystander.close()
        }
    }

    @Test func fragmentedMessagesAreReassembled() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            try await socket.send(WebSocketFrame(fin: false, opcode: .binary, maskKey: .random(), data: ByteBuffer(repeating: 1, count: 1000)))
            // A ping may arrive between fragments (RFC 6455 §5.4).
            try await socket.send(WebSocketFrame(fin: true, opcode: .ping, maskKey: .random(), data: ByteBuffer(string: "hi")))
            try await socket.send(WebSocketFrame(fin: true, opcode: .continuation, maskKey: .random(), data: ByteBuffer(repeating: 2, count: 24)))
            let pong = try #require(try await socket.nextFrame())
            #expect(pong.opcode == .pong)
            #expect(String(buffer: pong.unmaskedData) == "hi")
            let ack = try #require(try await socket.nextMessage())
            #expect(ack.chunkSize == 1024)
            await socket.close()
        }
    }

    @Test func invalidUTF8TextClosesWith1007() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            try await socket.send(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: [0x7B, 0xFF, 0xFE, 0x7D])))
            #expect(try await socket.waitForClose() == .dataInconsistentWithMessage)
        }
    }

    @Test func unmaskedClientFramesAreAProtocolError() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            try await socket.send(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(repeating: 0, count: 10)))
            #expect(try await socket.waitForClose() == .protocolError)
        }
    }

    @Test func theClosingHandshakeEchoesTheClientsCode() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            var data = ByteBuffer()
            data.write(webSocketErrorCode: .normalClosure)
            try await socket.send(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data))
            #expect(try await socket.waitForClose() == .normalClosure)
            try await socket.channel.closeFuture.get()
        }
    }

    @Test func probesAnswer() async throws {
        try await withServer(workers: 2) { server in
            let (healthStatus, health) = try await server.get("/api/audio/health")
            #expect(healthStatus == 200)
            #expect(health == #"{"status":"ok"}"#)
            #expect(try await server.get("/healthz").0 == 200)
            let (readyStatus, ready) = try await server.get("/readyz")
            #expect(readyStatus == 200)
            #expect(ready.contains(#""status":"ready""#))
            #expect(ready.contains(#""workers":2"#))
            let (plainStatus, plain) = try await server.get("/api/audio/ws")
            #expect(plainStatus == 426)
            #expect(plain.contains(#""code":"upgrade_required""#))
        }
    }
}

/// Chunks of every length up to two words and beyond, with arbitrary bytes and masks, arrive intact:
/// the mock engine counts bytes, so the server's unmasking is checked through an echo of sizes
/// and through the transcript's byte count.
@Suite struct MaskedPayloadTests {
    @Test func textPayloadsOfEveryShortLengthUnmaskExactly() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            // A JSON control message padded to every length 15...40: an unmasking error at any
            // byte position would make it invalid JSON or an unknown type.
            for padding in 0..<26 {
                let text = #"{"type":"ping","pad":""# + String(repeating: "x", count: padding) + #""}"#
                try await socket.sendText(text)
                let reply = try #require(try await socket.nextMessage())
                #expect(reply.type == "pong", "length \(text.utf8.count)")
            }
            await socket.close()
        }
    }
}
