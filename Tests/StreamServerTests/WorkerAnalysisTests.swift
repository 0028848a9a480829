import Foundation
import NIOCore
import Protocol
import Testing

/// The real `audio-worker` binary analysing real recordings over its pipe protocol.
@Suite struct WorkerAnalysisTests {
    /// Runs a worker, sends `frames`, then shutdown, and returns every frame it answered.
    private func exchange(_ frames: [PipeFrame]) async throws -> [PipeFrame] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("audio-worker"))
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        var request = ByteBuffer()
        for frame in frames { request.writePipeFrame(frame) }
        request.writePipeFrame(.shutdown)
        try stdin.fileHandleForWriting.write(contentsOf: Data(buffer: request))
        try stdin.fileHandleForWriting.close()
        // The worker exits after answering everything; read until its stdout closes.
        let output = try await Task.detached { try stdout.fileHandleForReading.readToEnd() ?? Data() }.value
        var decoder = PipeFrameDecoder()
        decoder.append(ByteBuffer(data: output))
        var answers: [PipeFrame] = []
        while let frame = try decoder.next() { answers.append(frame) }
        return answers
    }

    private static func job(_ id: UInt64, _ path: String) -> PipeFrame {
        .analyse(AnalysisJob(jobID: id, recordingID: "rec-\(id)", path: path, minSilenceMs: 500, silenceThresholdDBFS: -40, transcribeSeconds: 20))
    }

    @Test func recordingsAreAnalysedAndBadFilesAreReportedNotFatal() async throws {
        let audio = CallAPITests.audioDirectory
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).wav")
        try Data(repeating: 0x5A, count: 10_000).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }

        let answers = try await self.exchange([
            Self.job(1, audio.appendingPathComponent("call30.wav").path),
            .chunk(clientID: 5, seq: 1, audio: ByteBuffer(bytes: [1, 2, 3])),
            Self.job(2, garbage.path),
            Self.job(3, "/nonexistent/file.wav"),
            Self.job(4, audio.appendingPathComponent("call8_stereo44k.wav").path),
        ])
        #expect(answers.first == .ready(engine: "mock"))
        #expect(answers.contains(.result(clientID: 5, seq: 1, text: MockTranscript.text(clientID: 5, seq: 1, byteCount: 3))))
        var results: [UInt64: AnalysisResult] = [:]
        var failures: [UInt64: String] = [:]
        for answer in answers {
            switch answer {
            case .analysis(let id, let result): results[id] = result
            case .analysisFailed(let id, let message): failures[id] = message
            default: break
            }
        }
        #expect(Set(failures.keys) == [2, 3])
        let call30 = try #require(results[1])
        #expect(call30.durationSec == 30)
        #expect(call30.silences.count == 7)
        #expect(call30.silences.first?.startMs == 0)
        #expect(call30.silences.last?.endMs == 30_000)
        #expect(call30.transcription == "mock transcription for recording rec-1 (0.0-20.0 s)")
        let stereo = try #require(results[4])
        #expect(abs(stereo.durationSec - 352_798.0 / 44_100) < 1e-9)
        #expect(stereo.transcription == "mock transcription for recording rec-4 (0.0-8.0 s)")
    }
}
