import Foundation
import NIOWebSocket
import Protocol
import Testing

/// `--max-connections`, `--idle-timeout`, `--request-timeout`, `--send-timeout`, and the HTTP
/// answer every refused upgrade gets.
@Suite struct LimitsTests {
    /// Past `--max-connections` an upgrade gets 503 `server_full` with `Retry-After`, before any
    /// upgrade; the open streams carry on, and a freed slot is taken again.
    @Test func upgradesPastMaxConnectionsGet503AndAFreedSlotIsUsable() async throws {
        try await withServer(arguments: ["--max-connections", "2"]) { server in
            var first = try await TestWebSocket.connect(port: server.port)
            let second = try await TestWebSocket.connect(port: server.port)
            let refused = try RawConnection(port: server.port)
            defer { refused.close() }
            try refused.send(RawConnection.upgradeRequest())
            let answer = try await refused.receiveJSONAnswer()
            #expect(answer.status == 503, "\(answer.head)")
            #expect(answer.head.lowercased().contains("retry-after: 1"))
            #expect(answer.body.contains(#""code":"server_full""#))

            try await first.sendBinary(count: 100)
            #expect(try await first.nextMessage()?.type == "ack")
            #expect(try await first.nextMessage()?.type == "transcript")

            await second.close()
            var third: TestWebSocket?
            for _ in 0..<50 where third == nil {
                third = try? await TestWebSocket.connect(port: server.port)
                if third == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(third != nil, "the freed slot takes a new stream")
            await third?.close()
            await first.close()
        }
    }

    /// An upgrade to a path without a stream gets a 404 JSON error (not silence), and one that
    /// breaks RFC 6455 (version 12) a 400.
    @Test func refusedUpgradesGetAnHTTPAnswer() async throws {
        try await withServer { server in
            for (path, version, status, code) in [("/nope", "13", 404, "not_found"), ("/api/audio/ws", "12", 400, "bad_upgrade")] {
                let connection = try RawConnection(port: server.port)
                defer { connection.close() }
                try connection.send(RawConnection.upgradeRequest(path: path).replacingOccurrences(of: "Version: 13", with: "Version: \(version)"))
                let answer = try await connection.receiveJSONAnswer()
                #expect(answer.status == status, "\(path): \(answer.head)")
                #expect(answer.body.contains(#""code":"\#(code)""#), "\(answer.body)")
            }
            #expect(try await server.get("/healthz").0 == 200)
        }
    }

    /// A stream that sends nothing is closed with 1001 after `--idle-timeout`; one that pings,
    /// or waits for its own transcript, is not.
    @Test func idleStreamsAreClosedAndBusyOnesAreNot() async throws {
        // 10 s, not less: in a parallel run (the suite starts dozens of servers, workers and
        // clients at once) this process can stall for seconds, and a stall between a socket's
        // connect and its first frame would make a busy socket idle (seen at 5 s).
        let idleSeconds = 10 * TestTime.scale
        let latencyMs = 21_000 * TestTime.scale
        // The worker sleeping in the mock latency answers no heartbeat: the worker timeout is longer.
        let arguments = ["--idle-timeout", "\(idleSeconds)", "--mock-latency-ms", "\(latencyMs)", "--worker-timeout", "\(latencyMs / 500)"]
        try await withServer(arguments: arguments) { server in
            // Each socket does its first thing as soon as it is open: the clocks start at connect.
            var idle = try await TestWebSocket.connect(port: server.port)
            var waiting = try await TestWebSocket.connect(port: server.port)
            try await waiting.sendBinary(count: 320)
            var pinging = try await TestWebSocket.connect(port: server.port)
            // Pings for twice the idle timeout, ten a second.
            let pings = 20 * idleSeconds
            for _ in 0..<pings {
                try await pinging.sendText(#"{"type":"ping"}"#)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await idle.waitForClose() == .goingAway)
            #expect(idle.closeReason?.contains("idle") == true, "\(idle.closeReason ?? "")")

            let ack = try await waiting.nextMessage()
            #expect(ack?.type == "ack", "got \(String(describing: ack)), close reason: \(waiting.closeReason ?? "none")")
            #expect(
                try await waiting.nextMessage(timeout: .seconds(2 * idleSeconds))?.type == "transcript",
                "a stream awaiting its transcript (21 s) is busy, not idle"
            )
            var pongs = 0
            while pongs < pings, let message = try await pinging.nextMessage(timeout: .seconds(idleSeconds)) {
                if message.type == "pong" { pongs += 1 }
            }
            #expect(pongs == pings, "a pinging stream stays open")
            await pinging.close()
            await waiting.close()
        }
    }

    /// Slowloris: a connection whose request head does not arrive within `--request-timeout`
    /// is dropped, as is a keep-alive connection that sends no next request; a prompt
    /// request is served.
    @Test func slowRequestHeadsAreDropped() async throws {
        try await withServer(arguments: ["--request-timeout", "1"]) { server in
            let slow = try RawConnection(port: server.port, receiveTimeoutSeconds: 10)
            defer { slow.close() }
            try slow.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            #expect(try await slow.drainUntilClosed(), "a half-sent head is dropped")

            let keepAlive = try RawConnection(port: server.port, receiveTimeoutSeconds: 10)
            defer { keepAlive.close() }
            try keepAlive.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await keepAlive.receive(until: "}").hasPrefix("HTTP/1.1 200"))
            #expect(try await keepAlive.drainUntilClosed(), "an idle keep-alive connection is dropped")
            #expect(try await server.get("/healthz").0 == 200)
        }
    }

    /// A stream that stops reading its results is closed once its outgoing queue has been full
    /// for `--send-timeout`; the server keeps serving everyone else.
    @Test func aStreamThatStopsReadingIsClosed() async throws {
        try await withServer(arguments: ["--send-timeout", "1"]) { server in
            let stalled = try RawConnection(port: server.port, receiveTimeoutSeconds: 10, receiveBufferBytes: 4096)
            defer { stalled.close() }
            try stalled.send(RawConnection.upgradeRequest())
            #expect(try await stalled.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 101"))
            // Pings (answered at once, with their payload) until nothing more fits.
            let ping = RawConnection.clientFrame(opcode: 0x9, payload: [UInt8](repeating: 0x41, count: 125))
            var sent = 0
            while sent < 200_000, stalled.trySend(ping) { sent += 1 }
            #expect(sent > 100)
            for _ in 0..<100 {
                if server.log.contains("closing a stream that stopped reading") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(server.log.contains("closing a stream that stopped reading"))
            #expect(try await stalled.drainUntilClosed(), "the server closed the connection")

            var other = try await TestWebSocket.connect(port: server.port)
            try await other.sendBinary(count: 64)
            #expect(try await other.nextMessage()?.type == "ack")
            await other.close()
        }
    }
}
