import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The calls and recordings API against a real server with a real SQLite file.
@Suite struct CallAPITests {
    // MARK: Helpers

    static let audioDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/audio")

    static func audio(_ name: String) throws -> Data {
        try Data(contentsOf: Self.audioDirectory.appendingPathComponent(name))
    }

    static func json(_ object: [String: Any]) -> Data {
        try! JSONSerialization.data(withJSONObject: object)
    }

    static func createCall(
        _ server: TestServer,
        caller: String = "+15550100",
        receiver: String = "+15550200",
        startedAt: String = "2026-11-23T09:30:00Z",
        isPrivate: Bool? = nil
    ) async throws -> String {
        var body: [String: Any] = ["caller": caller, "receiver": receiver, "started_at": startedAt]
        if let isPrivate { body["private"] = isPrivate }
        let answer = try await server.request("POST", "/calls", body: Self.json(body), headers: ["Content-Type": "application/json"])
        #expect(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
        return try #require(answer.json["id"] as? String)
    }

    /// A multipart/form-data body with one `file` field (and an unrelated text field first).
    static func multipart(filename: String, content: Data, field: String = "file") -> (Data, String) {
        let boundary = "----callstream-\(UUID().uuidString)"
        var body = Data()
        body.append("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".data(using: .utf8)!)
        body.append("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(filename)\"\r\n".data(using: .utf8)!)
        body.append("Content-Type: application/octet-stream\r\n\r\n".data(using: .utf8)!)
        body.append(content)
        body.append("\r\n--\(boundary)--\r\n".data(using: .utf8)!)
        return (body, "multipart/form-data; boundary=\(boundary)")
    }

    static func upload(_ server: TestServer, call: String, filename: String, content: Data) async throws -> HTTPAnswer {
        let (body, type) = Self.multipart(filename: filename, content: content)
        return try await server.request("POST", "/calls/\(call)/recording", body: body, headers: ["Content-Type": type])
    }

    static func storedFiles(_ server: TestServer) -> [String] {
        let recordings = (try? FileManager.default.contentsOfDirectory(atPath: server.dataDir.appendingPathComponent("recordings").path)) ?? []
        let temporary = (try? FileManager.default.contentsOfDirectory(atPath: server.dataDir.appendingPathComponent("tmp").path)) ?? []
        return (recordings.map { "recordings/\($0)" } + temporary.map { "tmp/\($0)" }).sorted()
    }

    // MARK: Calls

    @Test func aCreatedCallIsStoredNormalisedAndReadBack() async throws {
        try await withServer { server in
            let body = Self.json(["caller": "+1 (555) 010-2030", "receiver": "555 0199", "started_at": "2026-11-23T10:30:00.1234+01:00"])
            let created = try await server.request("POST", "/calls", body: body)
            #expect(created.status == 201)
            let call = created.json
            #expect(call["caller"] as? String == "+15550102030")
            #expect(call["receiver"] as? String == "5550199")
            #expect(call["started_at"] as? String == "2026-11-23T09:30:00.123Z")
            #expect(call["status"] as? String == "created")
            #expect(call["private"] as? Bool == false)
            #expect(call["recording"] is NSNull)
            #expect(call["external_id"] is NSNull)
            let id = try #require(call["id"] as? String)
            let fetched = try await server.request("GET", "/calls/\(id)")
            #expect(fetched.status == 200)
            #expect(NSDictionary(dictionary: fetched.json) == NSDictionary(dictionary: call))
        }
    }

    @Test(arguments: [
        ("not json", 400, "invalid_json"),
        ("[1,2]", 400, "invalid_json"),
        (#"{"receiver":"1","started_at":"2026-11-23T09:30:00Z"}"#, 422, "invalid_phone"),
        (#"{"caller":"12a","receiver":"1","started_at":"2026-11-23T09:30:00Z"}"#, 422, "invalid_phone"),
        (#"{"caller":"+","receiver":"1","started_at":"2026-11-23T09:30:00Z"}"#, 422, "invalid_phone"),
        (#"{"caller":"123456789012345678901234567890123","receiver":"1","started_at":"2026-11-23T09:30:00Z"}"#, 422, "invalid_phone"),
        (#"{"caller":5550100,"receiver":"1","started_at":"2026-11-23T09:30:00Z"}"#, 422, "invalid_phone"),
        (#"{"caller":"1","receiver":"2"}"#, 422, "invalid_date"),
        (#"{"caller":"1","receiver":"2","started_at":"yesterday"}"#, 422, "invalid_date"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","private":"yes"}"#, 422, "invalid_private"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","external_id":""}"#, 422, "invalid_external_id"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","external_id":" CA1"}"#, 422, "invalid_external_id"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","external_id":"CA\n1"}"#, 422, "invalid_external_id"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","external_id":"é"}"#, 422, "invalid_external_id"),
        (#"{"caller":"1","receiver":"2","started_at":"2026-11-23T09:30:00Z","external_id":42}"#, 422, "invalid_external_id"),
    ])
    func badCallsAreRefusedWithTheirCode(body: String, status: Int, code: String) async throws {
        try await withServer { server in
            let answer = try await server.request("POST", "/calls", body: Data(body.utf8))
            #expect(answer.status == status)
            #expect(answer.errorCode == code)
            let list = try await server.request("GET", "/calls")
            #expect(list.json["total"] as? Int == 0)
        }
    }

    /// PATCH changes only what it names; anything it cannot change is refused and leaves the
    /// call as it was.
    @Test func aPatchChangesTheNumbersAndPrivacyOnly() async throws {
        try await withServer { server in
            let id = try await Self.createCall(server)
            let patched = try await server.request(
                "PATCH",
                "/calls/\(id)",
                body: Self.json(["receiver": "(555) 010-0300"]),
                headers: ["Content-Type": "application/merge-patch+json"]
            )
            #expect(patched.status == 200)
            #expect(patched.json["receiver"] as? String == "5550100300" && patched.json["caller"] as? String == "+15550100")
            #expect(patched.json["private"] as? Bool == false && patched.json["status"] as? String == "created")
            let refusals: [(Data, [String: String], Int, String)] = [
                (Self.json(["started_at": "2026-11-24T09:30:00Z"]), [:], 422, "invalid_patch"),
                (Self.json(["caler": "+15550999"]), [:], 422, "invalid_patch"),
                (Self.json(["caller": "not a number"]), [:], 422, "invalid_phone"),
                (Self.json(["private": "yes"]), [:], 422, "invalid_private"),
                (Data("[1]".utf8), [:], 400, "invalid_json"),
                (Self.json(["caller": "+15550999"]), ["Content-Type": "text/plain"], 415, "unsupported_media_type"),
            ]
            for (body, headers, status, code) in refusals {
                let answer = try await server.request("PATCH", "/calls/\(id)", body: body, headers: headers)
                #expect(answer.status == status && answer.errorCode == code, "\(String(decoding: body, as: UTF8.self))")
            }
            let missing = try await server.request("PATCH", "/calls/\(UUID().uuidString)", body: Self.json(["private": true]))
            #expect(missing.status == 404 && missing.errorCode == "call_not_found")
            let stored = try await server.request("GET", "/calls/\(id)")
            #expect(stored.json["caller"] as? String == "+15550100" && stored.json["receiver"] as? String == "5550100300")
            #expect(stored.json["private"] as? Bool == false)
        }
    }

    @Test func aCallsExternalIDIsShownAndFindsIt() async throws {
        try await withServer { server in
            let sid = "CA" + String(repeating: "0123456789abcdef", count: 2)
            func create(_ externalID: String?) async throws -> String {
                var body: [String: Any] = ["caller": "+15550100", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"]
                if let externalID { body["external_id"] = externalID }
                let answer = try await server.request("POST", "/calls", body: Self.json(body))
                #expect(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
                #expect(answer.json["external_id"] as? String == externalID)
                return try #require(answer.json["id"] as? String)
            }
            let twilio = try await create(sid)
            let other = try await create("7c9e6679-7425-40de-944b-e07fc1f90ae7")
            _ = try await create(nil)
            let longest = try await create(String(repeating: "x", count: 128))
            let fetched = try await server.request("GET", "/calls/\(twilio)")
            #expect(fetched.json["external_id"] as? String == sid)
            func found(_ externalID: String) async throws -> [String] {
                let query = externalID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? externalID
                let answer = try await server.request("GET", "/calls?external_id=\(query)")
                #expect(answer.status == 200)
                return (answer.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await found(sid) == [twilio])
            #expect(try await found("7c9e6679-7425-40de-944b-e07fc1f90ae7") == [other])
            #expect(try await found(String(repeating: "x", count: 128)) == [longest])
            // Exact, not a prefix or a case-folded match.
            #expect(try await found("CA0123").isEmpty)
            #expect(try await found(sid.uppercased()).isEmpty)
            let tooLong = try await server.request("GET", "/calls?external_id=\(String(repeating: "x", count: 129))")
            #expect(tooLong.status == 422)
            #expect(tooLong.errorCode == "invalid_external_id")
        }
    }

    @Test func thirtyTwoDigitsAreAllowed() async throws {
        try await withServer { server in
            _ = try await Self.createCall(server, caller: "+" + String(repeating: "9", count: 32))
        }
    }

    @Test func unknownCallsAre404() async throws {
        try await withServer { server in
            for path in ["/calls/\(UUID().uuidString)", "/calls/not-a-uuid", "/calls/\(UUID().uuidString)/download"] {
                let answer = try await server.request("GET", path)
                #expect(answer.status == 404)
                #expect(answer.errorCode == "call_not_found")
            }
        }
    }

    @Test func searchFiltersSortsAndPages() async throws {
        try await withServer { server in
            // Ten calls an hour apart; numbers chosen so each filter picks a known subset.
            var ids: [String] = []
            for hour in 0..<10 {
                let caller = hour % 2 == 0 ? "+4930123456" : "+3312345\(hour)"
                let started = String(format: "2026-11-20T%02d:00:00Z", hour)
                ids.append(try await Self.createCall(server, caller: caller, receiver: "+15550\(hour)", startedAt: started))
            }
            func page(_ query: String) async throws -> (total: Int, ids: [String]) {
                let answer = try await server.request("GET", "/calls?\(query)")
                #expect(answer.status == 200, "\(query): \(String(decoding: answer.body, as: UTF8.self))")
                let items = answer.json["items"] as? [[String: Any]] ?? []
                return (answer.json["total"] as? Int ?? -1, items.compactMap { $0["id"] as? String })
            }
            let all = try await page("")
            #expect(all.total == 10)
            #expect(all.ids == Array(ids.reversed()))  // newest first
            let berlin = try await page("phone=%2B49%20301-23456")
            #expect(berlin.ids == [8, 6, 4, 2, 0].map { ids[$0] })
            let byReceiver = try await page("phone=%2B155503")
            #expect(byReceiver.ids == [ids[3]])
            let substring = try await page("query=123457")
            #expect(substring.ids == [ids[7]])
            let twoCharacters = try await page("query=33")
            #expect(twoCharacters.total == 5)
            let window = try await page("from=2026-11-20T03:00:00Z&to=2026-11-20T06:00:00Z")
            #expect(window.ids == [5, 4, 3].map { ids[$0] })
            let combined = try await page("from=2026-11-20T03:00:00%2B00:00&phone=%2B4930123456&limit=2&offset=1")
            #expect(combined.total == 3)
            #expect(combined.ids == [6, 4].map { ids[$0] })
            let paged = try await page("limit=3&offset=9")
            #expect(paged.total == 10)
            #expect(paged.ids == [ids[0]])
            let ready = try await page("status=ready")
            #expect(ready.total == 0)
            let injection = try await page("query=%27%20OR%201%3D1%20--")
            #expect(injection.total == 0)
            let percent = try await page("query=%25%25")
            #expect(percent.total == 0)
        }
    }

    @Test(arguments: [
        ("limit=0", "invalid_limit"), ("limit=201", "invalid_limit"), ("limit=ten", "invalid_limit"),
        ("offset=-1", "invalid_offset"), ("query=5", "invalid_query"), ("query=-%20-", "invalid_query"),
        ("from=monday", "invalid_date"), ("to=2026-13-01T00:00:00Z", "invalid_date"),
        ("status=done", "invalid_status"), ("phone=abc", "invalid_phone"),
    ])
    func badSearchParametersAre422(query: String, code: String) async throws {
        try await withServer { server in
            let answer = try await server.request("GET", "/calls?\(query)")
            #expect(answer.status == 422)
            #expect(answer.errorCode == code)
        }
    }

    /// Polls the call until its status is no longer `processing`.
    /// Waits up to 30 s for the call's analysis to end (a few hundred milliseconds alone; far
    /// longer while the whole suite runs on a slow host).
    static func settled(_ server: TestServer, call: String) async throws -> [String: Any] {
        for _ in 0..<1_500 {
            let answer = try await server.request("GET", "/calls/\(call)")
            if answer.json["status"] as? String != "processing" { return answer.json }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("call \(call) still processing")
    }

    struct Expected: Decodable {
        var duration_sec: Double
        var pydub_silence_ms: [[Int]]
    }

    static func expectedCall30() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.audioDirectory.appendingPathComponent("call30.json")))
    }

    // MARK: Recordings

    @Test(arguments: [("call30.wav", "wav"), ("call30.mp3", "mp3"), ("call30_8k.wav", "wav"), ("call8_stereo44k.wav", "wav")])
    func anUploadIsStoredExactlyAndServedWithRanges(name: String, format: String) async throws {
        try await withServer { server in
            let call = try await Self.createCall(server)
            let content = try Self.audio(name)
            let uploaded = try await Self.upload(server, call: call, filename: name, content: content)
            #expect(uploaded.status == 202, "\(String(decoding: uploaded.body, as: UTF8.self))")
            #expect(uploaded.json["status"] as? String == "processing")
            #expect(uploaded.json["format"] as? String == format)
            #expect(uploaded.json["size_bytes"] as? Int == content.count)
            #expect(uploaded.json["filename"] as? String == name)
            let recordingID = try #require(uploaded.json["id"] as? String)
            #expect(Self.storedFiles(server) == ["recordings/\(recordingID).\(format)"])

            let fetched = try await server.request("GET", "/calls/\(call)")
            // The analysis may already be done: a 30 s file takes milliseconds.
            #expect(["processing", "ready"].contains(fetched.json["status"] as? String))
            let recording = try #require(fetched.json["recording"] as? [String: Any])
            #expect(recording["id"] as? String == recordingID)

            let whole = try await server.request("GET", "/calls/\(call)/download")
            #expect(whole.status == 200)
            #expect(whole.body == content)
            #expect(whole.headers["content-type"] == (format == "wav" ? "audio/wav" : "audio/mpeg"))
            #expect(whole.headers["content-length"] == String(content.count))
            #expect(whole.headers["accept-ranges"] == "bytes")
            #expect(whole.headers["content-disposition"]?.contains("filename=\"\(name)\"") == true)

            let head = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=0-9"])
            #expect(head.status == 206)
            #expect(head.body == content.prefix(10))
            #expect(head.headers["content-range"] == "bytes 0-9/\(content.count)")
            let tail = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=-100"])
            #expect(tail.status == 206)
            #expect(tail.body == content.suffix(100))
            let middle = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=1000-"])
            #expect(middle.body == content.dropFirst(1000))
            let outside = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=\(content.count)-"])
            #expect(outside.status == 416)
            #expect(outside.headers["content-range"] == "bytes */\(content.count)")
        }
    }

    /// Upload → ready, with the duration and pydub's silence marks (within 30 ms at each edge).
    @Test(arguments: ["call30.wav", "call30.mp3", "call30_8k.wav"])
    func uploadsAreAnalysedLikePydub(name: String) async throws {
        try await withServer { server in
            let call = try await Self.createCall(server)
            #expect(try await Self.upload(server, call: call, filename: name, content: try Self.audio(name)).status == 202)
            let settled = try await Self.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            let recording = try #require(settled["recording"] as? [String: Any])
            let expected = try Self.expectedCall30()
            let duration = try #require(recording["duration_sec"] as? Double)
            #expect(abs(duration - expected.duration_sec) < (name.hasSuffix(".mp3") ? 0.05 : 1e-9))
            let marks = (recording["silence_marks"] as? [[String: Int]] ?? []).map { [$0["start_ms"] ?? -1, $0["end_ms"] ?? -1] }
            #expect(marks.count == expected.pydub_silence_ms.count, "\(marks)")
            for (mark, want) in zip(marks, expected.pydub_silence_ms) {
                #expect(abs(mark[0] - want[0]) <= 30 && abs(mark[1] - want[1]) <= 30, "\(mark) vs \(want)")
            }
            let recordingID = try #require(recording["id"] as? String)
            #expect(recording["transcription"] as? String == "mock transcription for recording \(recordingID) (0.0-20.0 s)")
            #expect(recording["error"] is NSNull)
        }
    }

    @Test func stereoIsAnalysedOnTheMixAndATruncatedWAVOnWhatItHas() async throws {
        try await withServer { server in
            let stereoCall = try await Self.createCall(server)
            #expect(try await Self.upload(server, call: stereoCall, filename: "s.wav", content: try Self.audio("call8_stereo44k.wav")).status == 202)
            let stereo = try #require(try await Self.settled(server, call: stereoCall)["recording"] as? [String: Any])
            #expect(abs((stereo["duration_sec"] as? Double ?? 0) - 352_798.0 / 44_100) < 1e-9)
            #expect((stereo["silence_marks"] as? [Any])?.isEmpty == false)

            // Half the data of call30.wav, with the header still claiming all of it.
            let whole = try Self.audio("call30.wav")
            let cutCall = try await Self.createCall(server)
            #expect(try await Self.upload(server, call: cutCall, filename: "cut.wav", content: whole.prefix(44 + 16_000 * 2 * 15)).status == 202)
            let cut = try await Self.settled(server, call: cutCall)
            #expect(cut["status"] as? String == "ready")
            #expect((cut["recording"] as? [String: Any])?["duration_sec"] as? Double == 15)
        }
    }

    /// Recordings left `processing` (here: no worker could start) are analysed after a restart.
    @Test func aRestartRequeuesRecordingsLeftProcessing() async throws {
        let first = try await TestServer.start(arguments: ["--worker-path", "/bin/false"], waitForReady: false)
        let call = try await Self.createCall(first)
        #expect(try await Self.upload(first, call: call, filename: "a.wav", content: try Self.audio("call30_8k.wav")).status == 202)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await first.request("GET", "/calls/\(call)").json["status"] as? String == "processing")
        await first.stop(keepingData: true)

        let second = try await TestServer.start(dataDir: first.dataDir)
        let settled = try await Self.settled(second, call: call)
        await second.stop()
        #expect(settled["status"] as? String == "ready")
        #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 30)
    }

    @Test func badUploadsAreRefusedAndLeaveNothingBehind() async throws {
        try await withServer(arguments: ["--max-upload-bytes", "500000"]) { server in
            let call = try await Self.createCall(server)
            let wav = try Self.audio("call30_8k.wav")
            let cases: [(String, Data, Int, String)] = [
                ("call.txt", wav, 422, "unsupported_extension"),
                ("call.wav", Data("this is not audio at all".utf8), 422, "invalid_audio"),
                ("call.mp3", Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }), 422, "invalid_audio"),
                ("call.wav", wav.prefix(30), 422, "invalid_audio"),  // cut inside the header
                ("call.wav", try Self.audio("call30.wav"), 413, "upload_too_large"),
            ]
            for (name, content, status, code) in cases {
                let answer = try await Self.upload(server, call: call, filename: name, content: content)
                #expect(answer.status == status, "\(name) \(code)")
                #expect(answer.errorCode == code)
            }
            // A form that stops before its closing boundary, with an honest length.
            let (form, formType) = Self.multipart(filename: "call.wav", content: wav)
            let closing = form.count - "--\r\n".utf8.count
            for cut in [form.prefix(form.count / 2), form.prefix(closing)] {
                let truncated = try await server.request("POST", "/calls/\(call)/recording", body: Data(cut), headers: ["Content-Type": formType])
                #expect(truncated.status == 400)
                #expect(truncated.errorCode == "invalid_multipart")
            }
            let notMultipart = try await server.request("POST", "/calls/\(call)/recording", body: wav, headers: ["Content-Type": "audio/wav"])
            #expect(notMultipart.status == 415)
            let (noFileBody, type) = Self.multipart(filename: "call.wav", content: wav, field: "other")
            let noFile = try await server.request("POST", "/calls/\(call)/recording", body: noFileBody, headers: ["Content-Type": type])
            #expect(noFile.errorCode == "missing_file")
            let unknown = try await Self.upload(server, call: UUID().uuidString, filename: "call.wav", content: wav)
            #expect(unknown.status == 404)

            #expect(Self.storedFiles(server).isEmpty)
            let fetched = try await server.request("GET", "/calls/\(call)")
            #expect(fetched.json["recording"] is NSNull)
            #expect(fetched.json["status"] as? String == "created")

            // The call still takes a good upload, and only one.
            #expect(try await Self.upload(server, call: call, filename: "call.wav", content: wav).status == 202)
            let second = try await Self.upload(server, call: call, filename: "again.wav", content: wav)
            #expect(second.status == 409)
            #expect(second.errorCode == "recording_already_exists")
            #expect(Self.storedFiles(server).count == 1)
        }
    }

    /// Waits up to five seconds for the recordings and temporary folders to be empty.
    static func noFilesLeft(_ server: TestServer) async throws -> Bool {
        for _ in 0..<250 where !Self.storedFiles(server).isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        return Self.storedFiles(server).isEmpty
    }

    /// Clients such as curl send `Expect: 100-continue` with large bodies and wait for the
    /// go-ahead before sending them: the server gives it, and the upload then lands.
    @Test func anUploadExpecting100ContinueIsToldToGoOn() async throws {
        try await withServer { server in
            let call = try await Self.createCall(server)
            let (body, type) = Self.multipart(filename: "a.wav", content: try Self.audio("call30_8k.wav"))
            let fd = try Self.connect(server, receiveTimeoutSeconds: 10)
            defer { close(fd) }
            let head =
                "POST /calls/\(call)/recording HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n"
            try Self.send(fd, Data(head.utf8))
            let interim = try await RawConnection.blocking { RawConnection.receive(fd, until: "\r\n\r\n") }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim)")
            try Self.send(fd, body)
            let final = try await RawConnection.blocking { RawConnection.receive(fd, until: "}") }
            #expect(final.hasPrefix("HTTP/1.1 202 Accepted\r\n"), "\(final)")
        }
    }

    /// A raw TCP connection to the server; reads give up after `receiveTimeoutSeconds`.
    static func connect(_ server: TestServer, receiveTimeoutSeconds: Int = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(server.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        return fd
    }

    static func send(_ fd: Int32, _ data: Data) throws {
        let sent = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        try #require(sent == data.count)
    }

    /// Opens a raw connection and sends the head and the first `fraction` of an upload's body.
    static func startUpload(_ server: TestServer, call: String, fraction: Double) throws -> Int32 {
        let (body, type) = Self.multipart(filename: "cut.wav", content: try Self.audio("call30.wav"))
        let head = "POST /calls/\(call)/recording HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\n\r\n"
        let fd = try Self.connect(server)
        try Self.send(fd, Data(head.utf8) + body.prefix(Int(Double(body.count) * fraction)))
        return fd
    }

    /// A client that disconnects partway through its upload (half of it, or all but the
    /// closing boundary) leaves no file and no row, and the call still takes an upload.
    @Test(arguments: [0.5, 0.99])
    func anInterruptedUploadLeavesNothing(sentFraction: Double) async throws {
        try await withServer { server in
            let call = try await Self.createCall(server)
            let fd = try Self.startUpload(server, call: call, fraction: sentFraction)
            try await Task.sleep(for: .milliseconds(300))
            close(fd)
            #expect(try await Self.noFilesLeft(server))
            let fetched = try await server.request("GET", "/calls/\(call)")
            #expect(fetched.json["recording"] is NSNull)
            #expect(try await Self.upload(server, call: call, filename: "whole.wav", content: try Self.audio("call30_8k.wav")).status == 202)
        }
    }

    /// A client that stops sending midway but keeps the connection open is cut off after
    /// `--request-body-timeout`, and its upload leaves nothing.
    @Test func aStalledUploadIsCutOffAndLeavesNothing() async throws {
        try await withServer(arguments: ["--request-body-timeout", "0.5"]) { server in
            let call = try await Self.createCall(server)
            let fd = try Self.startUpload(server, call: call, fraction: 0.5)
            defer { close(fd) }
            for _ in 0..<250 where !server.log.contains("request body stalled") {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(server.log.contains("request body stalled"), "the server cut the upload off, not the test")
            #expect(try await Self.noFilesLeft(server))
            // The server closed the connection: reading gives end-of-file (or a reset).
            var byte: UInt8 = 0
            var got = recv(fd, &byte, 1, 0)
            while got > 0 { got = recv(fd, &byte, 1, 0) }
            #expect(got == 0 || errno == ECONNRESET)
            #expect(try await server.request("GET", "/calls/\(call)").json["recording"] is NSNull)
        }
    }

    /// Two uploads for one call at once: one lands, the other gets 409 and leaves no file.
    @Test func racingUploadsForOneCallLandOnce() async throws {
        try await withServer { server in
            let call = try await Self.createCall(server)
            let content = try Self.audio("call30_8k.wav")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<4 {
                    group.addTask { try await Self.upload(server, call: call, filename: "r\(index).wav", content: content).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }.sorted()
            }
            #expect(statuses == [202, 409, 409, 409])
            #expect(Self.storedFiles(server).count == 1)
        }
    }

    @Test func privateRecordingsAreNeverServed() async throws {
        try await withServer { server in
            let call = try await Self.createCall(server, isPrivate: true)
            let before = try await server.request("GET", "/calls/\(call)/download")
            #expect(before.status == 403)
            #expect(try await Self.upload(server, call: call, filename: "a.wav", content: try Self.audio("call30_8k.wav")).status == 202)
            let after = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=0-9"])
            #expect(after.status == 403)
            #expect(after.errorCode == "recording_private")
            let open = try await Self.createCall(server)
            let missing = try await server.request("GET", "/calls/\(open)/download")
            #expect(missing.status == 404)
            #expect(missing.errorCode == "recording_not_found")
        }
    }

    @Test func concurrentUploadsAllLand() async throws {
        try await withServer { server in
            let content = try Self.audio("call30_8k.wav")
            var calls: [String] = []
            for index in 0..<8 { calls.append(try await Self.createCall(server, caller: "+1555000\(index)")) }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for call in calls {
                    group.addTask { try await Self.upload(server, call: call, filename: "c.wav", content: content).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 202, count: 8))
            #expect(Self.storedFiles(server).count == 8)
            for call in calls {
                #expect(try await server.request("GET", "/calls/\(call)/download").body == content)
            }
        }
    }

    @Test func aRestartKeepsCallsAndRecordings() async throws {
        let first = try await TestServer.start()
        let content = try Self.audio("call30_8k.wav")
        let call = try await Self.createCall(first)
        #expect(try await Self.upload(first, call: call, filename: "kept.wav", content: content).status == 202)
        let before = try await Self.settled(first, call: call)
        #expect(before["status"] as? String == "ready")
        await first.stop(keepingData: true)

        let second = try await TestServer.start(dataDir: first.dataDir)
        defer { Task { await second.stop() } }
        let after = try await second.request("GET", "/calls/\(call)")
        #expect(after.status == 200)
        #expect(NSDictionary(dictionary: after.json) == NSDictionary(dictionary: before))
        #expect(try await second.request("GET", "/calls/\(call)/download").body == content)
        await second.stop()
    }
}
