import AudioAnalysis
import Foundation
import Testing

/// `--archive-format mp3`: permanent MP3 copies, written by the workers, replace the WAVs.
@Suite struct ArchiveTests {
    /// A download's MP3: its sample rate, frames and channels as mpg123 decodes them.
    static func decodeMP3(_ bytes: Data) throws -> (sampleRate: Int, frames: Int, channels: Int) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("archive-\(UUID().uuidString).mp3").path
        try bytes.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try MP3Decoder(path: path).decodeMono { _, _ in }
    }

    /// A stereo WAV upload becomes a stereo MP3: the recording says `archived_format: mp3`, the
    /// download is `audio/mpeg` named .mp3 with the same length, and the WAV is gone.
    @Test func aStereoUploadIsKeptAsStereoMP3() async throws {
        try await withServer(arguments: ["--archive-format", "mp3", "--archive-bitrate", "64"]) { server in
            let call = try await CallAPITests.createCall(server)
            let wav = try CallAPITests.audio("call8_stereo44k.wav")
            #expect(try await CallAPITests.upload(server, call: call, filename: "both sides.wav", content: wav).status == 202)
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready", "\(settled)")
            let recording = try #require(settled["recording"] as? [String: Any])
            #expect(recording["archived_format"] as? String == "mp3")
            #expect(recording["format"] as? String == "wav" && recording["size_bytes"] as? Int == wav.count)
            let download = try await server.request("GET", "/calls/\(call)/download")
            #expect(download.status == 200)
            #expect(download.headers["content-type"] == "audio/mpeg")
            #expect(download.headers["content-disposition"]?.contains("both sides.mp3") == true)
            let decoded = try Self.decodeMP3(download.body)
            #expect(decoded.channels == 2 && decoded.sampleRate == 44_100)
            // Within a frame's padding of the original 8 s.
            let seconds = Double(decoded.frames) / Double(decoded.sampleRate)
            #expect(abs(seconds - 8) < 0.1, "\(seconds) s")
            #expect(download.body.count < wav.count / 10)
            let partial = try await server.request("GET", "/calls/\(call)/download", headers: ["Range": "bytes=0-99"])
            #expect(partial.status == 206 && partial.body == download.body.prefix(100))
            let stored = CallAPITests.storedFiles(server).filter { $0.hasPrefix("recordings/") }
            #expect(stored.count == 1 && stored.first?.hasSuffix(".mp3") == true, "\(stored)")
        }
    }

    /// Without `--archive-format` a WAV stays a WAV; with it, an MP3 upload is kept as it came.
    @Test func onlyWAVsAreTranscoded() async throws {
        try await withServer(arguments: ["--archive-format", "mp3"]) { server in
            let call = try await CallAPITests.createCall(server)
            let mp3 = try CallAPITests.audio("call30.mp3")
            #expect(try await CallAPITests.upload(server, call: call, filename: "call.mp3", content: mp3).status == 202)
            let recording = try #require(try await CallAPITests.settled(server, call: call)["recording"] as? [String: Any])
            #expect(recording["archived_format"] is NSNull)
            #expect(try await server.request("GET", "/calls/\(call)/download").body == mp3)
        }
        try await withServer { server in
            let call = try await CallAPITests.createCall(server)
            let wav = try CallAPITests.audio("call30_8k.wav")
            #expect(try await CallAPITests.upload(server, call: call, filename: "call.wav", content: wav).status == 202)
            let recording = try #require(try await CallAPITests.settled(server, call: call)["recording"] as? [String: Any])
            #expect(recording["archived_format"] is NSNull)
            let download = try await server.request("GET", "/calls/\(call)/download")
            #expect(download.body == wav && download.headers["content-type"] == "audio/wav")
        }
    }

    /// A worker that dies mid-transcode: the original stays whole and served, the job runs
    /// again, and the archive then replaces it; no half-written file is left.
    @Test func aCrashMidTranscodeLeavesTheOriginalAndRunsAgain() async throws {
        let server = try await TestServer.start(arguments: ["--archive-format", "mp3"], environment: ["CALLSTREAM_WORKER_CRASH_IN_ARCHIVE": "1"])
        defer { Task { await server.stop() } }
        let call = try await CallAPITests.createCall(server)
        let wav = try CallAPITests.audio("call30_8k.wav")
        #expect(try await CallAPITests.upload(server, call: call, filename: "call.wav", content: wav).status == 202)
        let settled = try await CallAPITests.settled(server, call: call)
        #expect(settled["status"] as? String == "ready", "\(settled)")
        #expect((settled["recording"] as? [String: Any])?["archived_format"] as? String == "mp3")
        #expect(server.log.contains("crashing on purpose mid-archive"))
        let decoded = try Self.decodeMP3(try await server.request("GET", "/calls/\(call)/download").body)
        #expect(decoded.channels == 1 && abs(Double(decoded.frames) / Double(decoded.sampleRate) - 30) < 0.1)
        let stored = CallAPITests.storedFiles(server).filter { $0.hasPrefix("recordings/") && !$0.hasSuffix(".crashed") }
        #expect(stored.count == 1 && stored.first?.hasSuffix(".mp3") == true, "\(stored)")
        await server.stop()
    }
}
