import Foundation
import Protocol
import Testing

/// Log lines, request ids, and the error shape of requests no route answers.
@Suite struct LoggingTests {
    /// Every line of a `--log-format json` log, parsed.
    static func jsonLines(_ server: TestServer) throws -> [[String: String]] {
        try server.log.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: String], "not a flat JSON object: \(line)")
        }
    }

    static func waitForLine(_ server: TestServer, _ message: String) async throws -> [String: String] {
        for _ in 0..<250 {
            if let line = try Self.jsonLines(server).first(where: { $0["message"] == message }) { return line }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("no '\(message)' line")
    }

    @Test func jsonLogsCarryTheRequestIdAndMaskPhoneNumbers() async throws {
        try await withServer(arguments: ["--log-format", "json"]) { server in
            let body = CallAPITests.json(["caller": "+79161234567", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"])
            let created = try await server.request(
                "POST",
                "/calls",
                body: body,
                headers: ["Content-Type": "application/json", "X-Request-Id": "trace-42"]
            )
            #expect(created.status == 201)
            #expect(created.headers["x-request-id"] == "trace-42")

            let line = try await Self.waitForLine(server, "call created")
            #expect(line["level"] == "info")
            #expect(line["time"]?.hasSuffix("Z") == true)
            #expect(line["request_id"] == "trace-42")
            #expect(line["call_id"] == created.json["id"] as? String)
            #expect(line["caller"] == "+7******4567")
            #expect(line["receiver"] == "+1***0200")
            #expect(!server.log.contains("9161234567"), "the full number is never logged")
            for line in try Self.jsonLines(server) {
                #expect(line["time"] != nil && line["level"] != nil && line["message"] != nil)
            }
        }
    }

    @Test func anInsaneRequestIdIsReplacedAndAMissingOneIsMade() async throws {
        try await withServer { server in
            let made = try await server.request("GET", "/healthz")
            let id = try #require(made.headers["x-request-id"])
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            let other = try await server.request("GET", "/healthz")
            #expect(other.headers["x-request-id"] != id)
            for insane in [String(repeating: "a", count: 129), "has space", "ünï"] {
                let answer = try await server.request("GET", "/healthz", headers: ["X-Request-Id": insane])
                #expect(answer.headers["x-request-id"] != insane)
                #expect(answer.headers["x-request-id"]?.count == 32)
            }
            let longest = String(repeating: "b", count: 128)
            #expect(try await server.request("GET", "/healthz", headers: ["X-Request-Id": longest]).headers["x-request-id"] == longest)
            // Errors carry it too.
            #expect(try await server.request("GET", "/calls/nope", headers: ["X-Request-Id": "e1"]).headers["x-request-id"] == "e1")
        }
    }

    @Test func aSessionLogsUnderItsUpgradeRequestIdAndNeverItsToken() async throws {
        try await withServer(arguments: ["--log-format", "json"]) { server in
            var socket = try await TestWebSocket.connect(port: server.port, headers: [("X-Request-Id", "ws-7")])
            #expect(socket.upgradeHeaders.contains { $0.0.lowercased() == "x-request-id" && $0.1 == "ws-7" })
            let started = try #require(
                try await socket.control([
                    "type": "start", "codec": "pcm_s16le", "sample_rate": 8000, "channels": 1,
                    "caller": "+79161234567", "receiver": "+15550200",
                ])
            )
            let token = try #require(started.resumeToken)
            try await socket.sendChunk([UInt8](repeating: 0, count: 1600))
            var session = SessionTranscript()
            _ = try await socket.control(["type": "stop"])
            try await socket.collect(into: &session)
            await socket.close()

            let line = try await Self.waitForLine(server, "session started")
            #expect(line["request_id"] == "ws-7")
            #expect(line["client_id"] == started.clientID.map(String.init))
            #expect(line["call_id"] == started.callID)
            #expect(line["caller"] == "+7******4567")
            #expect(!server.log.contains(token), "resume tokens never reach the log")
            #expect(!server.log.contains("9161234567"))
        }
    }

    @Test func logPIIShowsNumbersInFull() async throws {
        try await withServer(arguments: ["--log-format", "json", "--log-pii"]) { server in
            let body = CallAPITests.json(["caller": "+79161234567", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"])
            let created = try await server.request("POST", "/calls", body: body, headers: ["Content-Type": "application/json"])
            #expect(created.status == 201)
            let line = try await Self.waitForLine(server, "call created")
            #expect(line["caller"] == "+79161234567")
        }
    }

    @Test func textLogsAreOneLineEachWithTheRequestId() async throws {
        try await withServer { server in
            _ = try await CallAPITests.createCall(server)
            for _ in 0..<250 where !server.log.contains("call created") {
                try await Task.sleep(for: .milliseconds(20))
            }
            let line = try #require(server.log.split(separator: "\n").first { $0.contains("call created") })
            #expect(line.contains(" info stream-server: "))
            #expect(line.contains("request_id="))
            #expect(line.contains("caller=+1***0100"))
        }
    }

    @Test func unknownPathsAndMethodsGetTheErrorShape() async throws {
        try await withServer { server in
            let unknown = try await server.request("GET", "/no/such/thing")
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "not_found")
            let wrongMethod = try await server.request("DELETE", "/calls")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.errorCode == "method_not_allowed")
            #expect(wrongMethod.headers["allow"] == "GET, POST")
            let wrongOnAPattern = try await server.request("PUT", "/calls/123/recording")
            #expect(wrongOnAPattern.status == 405)
            #expect(wrongOnAPattern.headers["allow"] == "POST")
            #expect(try await server.request("GET", "/calls/123/recording/extra").status == 404)
        }
    }
}
