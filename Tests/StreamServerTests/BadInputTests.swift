import Foundation
import Protocol
import Testing

/// Malformed input on every route and message: each gets a clear 4xx or error message, the
/// server keeps serving, and what is stored is untouched.
@Suite struct BadInputTests {
    struct Case: CustomStringConvertible {
        var method: String
        var path: String
        var headers: [String: String] = [:]
        var body: Data? = nil
        var status: Int
        var code: String
        var description: String { "\(self.method) \(self.path) → \(self.status) \(self.code)" }
    }

    static let json = ["Content-Type": "application/json"]
    static func body(_ text: String) -> Data { Data(text.utf8) }
    static let validCall = #""receiver":"+15550200","started_at":"2026-11-23T09:30:00Z""#

    static let cases: [Case] = [
        Case(method: "POST", path: "/calls", headers: json, body: Data([0xFF, 0xFE, 0x7B]), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/calls", headers: json, body: body(String(repeating: "[", count: 30_000)), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/calls", headers: json, body: body(String(repeating: "[", count: 70_000)), status: 413, code: "body_too_large"),
        Case(method: "POST", path: "/calls", headers: json, body: body("[1,2]"), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/calls", headers: json, body: body(#"{"caller":1e400,\#(validCall)}"#), status: 422, code: "invalid_phone"),
        Case(method: "POST", path: "/calls", headers: json, body: body(#"{"caller":15550100,\#(validCall)}"#), status: 422, code: "invalid_phone"),
        Case(
            method: "POST",
            path: "/calls",
            headers: json,
            body: body(#"{"caller":"'; DROP TABLE calls;--",\#(validCall)}"#),
            status: 422,
            code: "invalid_phone"
        ),
        Case(
            method: "POST",
            path: "/calls",
            headers: json,
            body: body(#"{"caller":"+1555","receiver":"+1556","started_at":"../../etc/passwd"}"#),
            status: 422,
            code: "invalid_date"
        ),
        Case(
            method: "POST",
            path: "/calls",
            headers: json,
            body: body(#"{"caller":"+1555",\#(validCall),"private":"yes"}"#),
            status: 422,
            code: "invalid_private"
        ),
        Case(
            method: "POST",
            path: "/calls",
            headers: ["Content-Type": "text/plain"],
            body: body(#"{"caller":"+1555",\#(validCall)}"#),
            status: 415,
            code: "unsupported_media_type"
        ),
        Case(method: "GET", path: "/calls?limit=-1", status: 422, code: "invalid_limit"),
        Case(method: "GET", path: "/calls?limit=99999999999999999999999", status: 422, code: "invalid_limit"),
        Case(method: "GET", path: "/calls?offset=-5", status: 422, code: "invalid_offset"),
        Case(method: "GET", path: "/calls?offset=1e9", status: 422, code: "invalid_offset"),
        Case(method: "GET", path: "/calls?from=%00", status: 422, code: "invalid_date"),
        Case(method: "GET", path: "/calls?status=ready%27%20OR%201%3D1", status: 422, code: "invalid_status"),
        Case(method: "GET", path: "/calls?phone=%27%3B%20DROP%20TABLE%20calls", status: 422, code: "invalid_phone"),
        Case(method: "GET", path: "/calls/..%2F..%2Fetc%2Fpasswd", status: 404, code: "call_not_found"),
        Case(method: "GET", path: "/calls/..%2F..%2Fetc%2Fpasswd/download", status: 404, code: "call_not_found"),
        Case(method: "GET", path: "/calls/%27%20OR%201%3D1--/transcript", status: 404, code: "call_not_found"),
        Case(method: "DELETE", path: "/calls/00000000-0000-0000-0000-000000000000", status: 404, code: "call_not_found"),
        Case(method: "PUT", path: "/calls", status: 405, code: "method_not_allowed"),
        Case(method: "GET", path: "/nothing/here", status: 404, code: "not_found"),
    ]

    /// Upload cases need an existing call: its id replaces `{call}`.
    static func uploadCases(boundary: String) -> [Case] {
        let path = "/calls/{call}/recording"
        let part = "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF"
        return [
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "application/json"],
                body: body("{}"),
                status: 415,
                code: "unsupported_media_type"
            ),
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "multipart/form-data"],
                body: body("x"),
                status: 415,
                code: "unsupported_media_type"
            ),
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                body: body("--other\r\n\(part)\r\n--other--\r\n"),
                status: 422,
                code: "missing_file"
            ),
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                body: body("--\(boundary)\r\n\(part)"),
                status: 400,
                code: "invalid_multipart"
            ),
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                body: body(
                    "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x.sh\"\r\n\r\n#!\r\n--\(boundary)--\r\n"
                ),
                status: 422,
                code: "unsupported_extension"
            ),
            Case(
                method: "POST",
                path: path,
                headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                body: body("--\(boundary)\r\n\(part)\r\n--\(boundary)--\r\n"),
                status: 422,
                code: "invalid_audio"
            ),
        ]
    }

    @Test func everyRouteRefusesMalformedInputAndStoredDataIsUntouched() async throws {
        try await withServer { server in
            let call = try await CallAPITests.createCall(server)
            let before = try await server.request("GET", "/calls/\(call)")
            for item in Self.cases + Self.uploadCases(boundary: "xyzzy") {
                let answer = try await server.request(
                    item.method,
                    item.path.replacingOccurrences(of: "{call}", with: call),
                    body: item.body,
                    headers: item.headers
                )
                #expect(answer.status == item.status, "\(item): got \(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
                #expect(answer.errorCode == item.code, "\(item)")
            }
            let after = try await server.request("GET", "/calls/\(call)")
            #expect(
                NSDictionary(dictionary: after.json) == NSDictionary(dictionary: before.json),
                "the stored call is unchanged: \(before.json) → \(after.json)"
            )
            let list = try await server.request("GET", "/calls")
            #expect(list.json["total"] as? Int == 1, "nothing else was stored")
            let tmp = try FileManager.default.contentsOfDirectory(atPath: server.dataDir.appendingPathComponent("tmp").path)
            #expect(tmp.isEmpty)
            #expect(try await server.get("/readyz").0 == 200)
        }
    }

    /// A `start` with each field of the wrong type gets an error naming the field's code; the
    /// stream stays usable, and a good `start` then works.
    @Test func aStartWithEachFieldOfTheWrongTypeIsRefused() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            let good: [String: Any] = ["type": "start", "codec": "pcm_s16le", "sample_rate": 16000, "channels": 1]
            let wrong: [(String, Any, String)] = [
                ("codec", 7, "invalid_codec"), ("sample_rate", "16000", "invalid_sample_rate"), ("sample_rate", 16000.5, "invalid_sample_rate"),
                ("sample_rate", 1e300, "invalid_sample_rate"), ("channels", [1], "invalid_channels"), ("channels", -1, "invalid_channels"),
                ("caller", 5550100, "invalid_phone"), ("receiver", ["+1"], "invalid_phone"), ("started_at", 0, "invalid_date"),
                ("private", "true", "invalid_private"), ("record", 1, "invalid_record"), ("call_id", 12, "call_not_found"),
                ("call_id", "../../etc/passwd", "call_not_found"),
            ]
            for (field, value, code) in wrong {
                let reply = try await socket.control(good.merging([field: value]) { $1 })
                #expect(reply?.kind == .error && reply?.error?.code == code, "\(field) = \(value): \(String(describing: reply))")
            }
            for text in ["[]", "\"start\"", String(repeating: "{\"a\":", count: 5000), "{\"type\":{\"nested\":true}}", "{\"type\":null}"] {
                try await socket.sendText(text)
                let reply = try await socket.nextMessage()
                #expect(reply?.kind == .error && reply?.error?.code == "invalid_message", "\(text.prefix(40)): \(String(describing: reply))")
            }
            let started = try await socket.control(good)
            #expect(started?.kind == .started)
            await socket.close()

            // Audio before start: the connection is a plain stream, and a late start is refused.
            var plain = try await TestWebSocket.connect(port: server.port)
            try await plain.sendBinary(count: 320)
            #expect(try await plain.nextMessage()?.type == "ack")
            let late = try await plain.control(good)
            #expect(late?.error?.code == "start_after_audio")
            await plain.close()
        }
    }
}
