import Foundation
import NIOWebSocket
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Bearer tokens (`--auth-tokens-file`, reloaded on SIGHUP), origins and CORS
/// (`--cors-origin`), and TLS (`--tls-cert`/`--tls-key`) with the real load client over wss://.
@Suite struct SecurityTests {
    static func tokensFile(_ tokens: [String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-tokens-\(UUID().uuidString)")
        try (["# CallStream tokens"] + tokens).joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// With tokens, every route but the health checks needs one (401 JSON otherwise, with
    /// `WWW-Authenticate`); the upgrade takes it as a header or as `?token=`; no token reaches
    /// the log, nor does the query string.
    @Test func routesAndUpgradesNeedAToken() async throws {
        let file = try Self.tokensFile(["alpha-secret-token", "beta-secret-token"])
        defer { try? FileManager.default.removeItem(at: file) }
        try await withServer(arguments: ["--auth-tokens-file", file.path, "--log-level", "trace"]) { server in
            let missing = try await server.request("GET", "/calls")
            #expect(missing.status == 401)
            #expect(missing.errorCode == "unauthorized")
            #expect(missing.headers["www-authenticate"] == "Bearer")
            #expect(try await server.request("GET", "/calls", headers: ["Authorization": "Bearer wrong"]).status == 401)
            #expect(try await server.request("GET", "/metrics", headers: ["Authorization": "Bearer alpha-secret-tokenX"]).status == 401)
            #expect(try await server.request("GET", "/calls", headers: ["Authorization": "Bearer beta-secret-token"]).status == 200)
            for open in ["/healthz", "/readyz", "/api/audio/health"] {
                #expect(try await server.get(open).0 == 200, "\(open) stays open")
            }

            let refused = try RawConnection(port: server.port)
            defer { refused.close() }
            try refused.send(RawConnection.upgradeRequest(path: "/api/audio/ws?token=wrong-token"))
            let answer = try await refused.receiveJSONAnswer()
            #expect(answer.status == 401, "\(answer.head)")
            #expect(answer.body.contains(#""code":"unauthorized""#))

            var byHeader = try await TestWebSocket.connect(port: server.port, headers: [("Authorization", "Bearer alpha-secret-token")])
            try await byHeader.sendBinary(count: 10)
            #expect(try await byHeader.nextMessage()?.type == "ack")
            await byHeader.close()
            var byQuery = try await TestWebSocket.connect(port: server.port, path: "/api/audio/ws?token=beta-secret-token")
            try await byQuery.sendBinary(count: 10)
            #expect(try await byQuery.nextMessage()?.type == "ack")
            await byQuery.close()

            let log = server.log
            for secret in ["alpha-secret-token", "beta-secret-token", "wrong-token", "token="] {
                #expect(!log.contains(secret), "the log holds no \(secret)")
            }
        }
    }

    /// SIGHUP reloads the tokens file: a removed token stops working, a new one starts, and a
    /// stream opened with the old token stays open.
    @Test func sighupReloadsTokensWithoutDroppingStreams() async throws {
        let file = try Self.tokensFile(["old-token"])
        defer { try? FileManager.default.removeItem(at: file) }
        try await withServer(arguments: ["--auth-tokens-file", file.path]) { server in
            var stream = try await TestWebSocket.connect(port: server.port, headers: [("Authorization", "Bearer old-token")])
            try "new-token\n".write(to: file, atomically: true, encoding: .utf8)
            server.signal(SIGHUP)
            for _ in 0..<100 where !server.log.contains("auth tokens reloaded") {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await server.request("GET", "/calls", headers: ["Authorization": "Bearer old-token"]).status == 401)
            #expect(try await server.request("GET", "/calls", headers: ["Authorization": "Bearer new-token"]).status == 200)
            try await stream.sendBinary(count: 10)
            #expect(try await stream.nextMessage()?.type == "ack")
            #expect(try await stream.nextMessage()?.type == "transcript")
            await stream.close()

            // A file that no longer holds a token keeps the previous ones.
            try "# empty\n".write(to: file, atomically: true, encoding: .utf8)
            server.signal(SIGHUP)
            for _ in 0..<100 where !server.log.contains("auth tokens not reloaded") {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await server.request("GET", "/calls", headers: ["Authorization": "Bearer new-token"]).status == 200)
        }
    }

    /// `--cors-origin`: preflights from a listed origin are answered with the CORS headers,
    /// other origins get none; WebSocket upgrades from another origin get 403, from a listed
    /// one or from a non-browser client (no Origin) they go through.
    @Test func corsOriginsAndWebSocketOrigins() async throws {
        try await withServer(arguments: ["--cors-origin", "https://app.example.com"]) { server in
            let preflight = try await server.request(
                "OPTIONS",
                "/calls",
                headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == "https://app.example.com")
            #expect(preflight.headers["access-control-allow-methods"]?.contains("DELETE") == true)
            let listed = try await server.request("GET", "/calls", headers: ["Origin": "https://app.example.com"])
            #expect(listed.headers["access-control-allow-origin"] == "https://app.example.com")
            let notFound = try await server.request("GET", "/calls/nope", headers: ["Origin": "https://app.example.com"])
            #expect(notFound.status == 404)
            #expect(notFound.headers["access-control-allow-origin"] == "https://app.example.com", "errors carry CORS headers too")
            let other = try await server.request("GET", "/calls", headers: ["Origin": "https://evil.example.net"])
            #expect(other.headers["access-control-allow-origin"] == nil)

            let foreign = try RawConnection(port: server.port)
            defer { foreign.close() }
            try foreign.send(RawConnection.upgradeRequest(headers: ["Origin: https://evil.example.net"]))
            let answer = try await foreign.receiveJSONAnswer()
            #expect(answer.status == 403, "\(answer.head)")
            #expect(answer.body.contains(#""code":"origin_not_allowed""#))
            let browser = try await TestWebSocket.connect(port: server.port, headers: [("Origin", "https://app.example.com")])
            await browser.close()
            let tool = try await TestWebSocket.connect(port: server.port)
            await tool.close()
        }
    }

    /// `--tls-cert`/`--tls-key`: HTTPS for the API (curl) and wss:// for streams, checked end
    /// to end by the load client (`--insecure` for the self-signed certificate).
    @Test func tlsServesHTTPSAndWSS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let (made, output) = try await runProcess(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"]
        )
        try #require(made == 0, "\(output)")
        try await withServer(arguments: ["--tls-cert", cert, "--tls-key", key], waitForReady: false) { server in
            var (curled, health) = (Int32(-1), "")
            for _ in 0..<100 where curled != 0 || !health.contains(#""status":"ready""#) {
                (curled, health) = try await runProcess("/usr/bin/curl", ["-sk", "https://127.0.0.1:\(server.port)/readyz"])
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(curled == 0)
            #expect(health.contains(#""status":"ready""#), "\(health)")
            let (plain, _) = try await runProcess("/usr/bin/curl", ["-s", "--max-time", "3", "http://127.0.0.1:\(server.port)/healthz"])
            #expect(plain != 0, "plain HTTP is not served on a TLS port")
            let (status, report) = try await runProcess(
                Binaries.path("load-client"),
                [
                    "--url", "wss://127.0.0.1:\(server.port)/api/audio/ws", "--insecure", "--clients", "5", "--messages", "20", "--rate-ms", "0",
                    "--json",
                ]
            )
            #expect(status == 0, "\(report)")
            #expect(report.contains(#""transcripts":100"#) && report.contains(#""ok":true"#), "\(report)")
            let (refused, _) = try await runProcess(
                Binaries.path("load-client"),
                ["--url", "wss://127.0.0.1:\(server.port)/api/audio/ws", "--clients", "1", "--messages", "1"]
            )
            #expect(refused != 0, "without --insecure the self-signed certificate is refused")
        }
    }
}
