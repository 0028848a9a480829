import Foundation
import Testing

/// Data dirs written by earlier builds, opened by this one.
@Suite struct SchemaUpgradeTests {
    private static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `Tests/Fixtures/v7-data`: two live calls of 5 chunks each, recorded by the build before
    /// migration v8 (segments keyed by the call's 36-character id). Every transcript and search
    /// survives the upgrade, a new call's segments go in beside them, and deleting an old call
    /// removes its segments and nothing else.
    @Test func aDataDirFromBeforeCompactCallKeysKeepsItsTranscripts() async throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: Self.fixtures.appendingPathComponent("v7-data/callstream.sqlite"),
            to: dataDir.appendingPathComponent("callstream.sqlite")
        )
        let server = try await TestServer.start(dataDir: dataDir)
        let first = "8f6451eb-1be6-4e06-ad04-643c480a233f"
        let second = "ec6637a3-c8b6-496d-a22f-fa065e78d4ba"
        #expect(try await Self.texts(server, call: first) == (1...5).map { "mock transcription for client 1 msg#\($0) (binary 3200 bytes)" })
        #expect(try await Self.texts(server, call: second).count == 5)
        #expect(try await server.request("GET", "/calls?text=mock").json["total"] as? Int == 2)

        let pcm = try TestPCM.load("call30.wav")
        var stream = try await TestWebSocket.connect(port: server.port)
        let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
        let third = try #require(started.callID)
        for chunk in pcm.pcmChunks(ms: 100).prefix(3) { try await stream.sendChunk(chunk) }
        try await stream.sendText(#"{"type":"stop"}"#)
        _ = try await LiveSubscriberTests.texts(&stream)
        _ = try await CallAPITests.settled(server, call: third)
        #expect(try await Self.texts(server, call: third).count == 3)
        #expect(try await server.request("GET", "/calls?text=mock").json["total"] as? Int == 3)

        #expect(try await server.request("DELETE", "/calls/\(first)").status == 204)
        #expect(try await server.request("GET", "/calls?text=mock").json["total"] as? Int == 2)
        #expect(try await Self.texts(server, call: second).count == 5)
        #expect(try await Self.texts(server, call: third).count == 3)
        await server.stop()
    }

    private static func texts(_ server: TestServer, call: String) async throws -> [String] {
        let segments = try await server.request("GET", "/calls/\(call)/transcript").json["segments"] as? [[String: Any]] ?? []
        return segments.compactMap { $0["text"] as? String }
    }
}
