import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Analyses when workers fail: the server's problem to recover, the call's status to tell.
@Suite struct RecordingAnalysisTests {
    /// The job sits in a stopped worker's pipe when the worker is killed: the replacement
    /// gets it again and the recording still becomes ready.
    @Test func aWorkerKilledDuringAnAnalysisIsReplacedAndTheAnalysisRetried() async throws {
        try await withServer(arguments: stoppedWorkersArguments) { server in
            let workers = server.workerPIDs()
            for pid in workers { kill(pid, SIGSTOP) }
            let call = try await CallAPITests.createCall(server)
            let upload = try await CallAPITests.upload(server, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav"))
            #expect(upload.status == 202)
            try await Task.sleep(for: .milliseconds(300))
            for pid in workers { kill(pid, SIGKILL) }
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 30)
            #expect(server.log.contains("trying again"))
        }
    }

    /// A file the worker cannot analyse (here: gone from disk before the worker reached it)
    /// fails the call with the worker's error; the worker and other calls are unaffected.
    @Test func aRecordingTheWorkerCannotReadFailsTheCallOnly() async throws {
        try await withServer(arguments: stoppedWorkersArguments) { server in
            let workers = server.workerPIDs()
            for pid in workers { kill(pid, SIGSTOP) }
            let call = try await CallAPITests.createCall(server)
            let upload = try await CallAPITests.upload(server, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav"))
            let recordingID = try #require(upload.json["id"] as? String)
            try FileManager.default.removeItem(at: server.dataDir.appendingPathComponent("recordings/\(recordingID).wav"))
            for pid in workers { kill(pid, SIGCONT) }
            let failed = try await CallAPITests.settled(server, call: call)
            #expect(failed["status"] as? String == "failed")
            #expect(((failed["recording"] as? [String: Any])?["error"] as? String)?.contains("cannot open") == true)

            let other = try await CallAPITests.createCall(server)
            #expect(
                try await CallAPITests.upload(server, call: other, filename: "b.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202
            )
            #expect(try await CallAPITests.settled(server, call: other)["status"] as? String == "ready")
            #expect(server.workerPIDs() == workers)
        }
    }
}

extension RecordingAnalysisTests {
    /// A file that crashes the worker every time: retried once, then the call is `failed`;
    /// the worker is replaced each time and other recordings are still analysed.
    @Test func aRecordingThatCrashesWorkersFailsAfterOneRetry() async throws {
        let server = try await TestServer.start(environment: ["CALLSTREAM_WORKER_CRASH_ON_PATH": ".wav"])
        defer { Task { await server.stop() } }
        let poisoned = try await CallAPITests.createCall(server)
        #expect(
            try await CallAPITests.upload(server, call: poisoned, filename: "p.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202
        )
        let failed = try await CallAPITests.settled(server, call: poisoned)
        #expect(failed["status"] as? String == "failed")
        #expect(((failed["recording"] as? [String: Any])?["error"] as? String)?.contains("crashed (2 attempts)") == true)

        let fine = try await CallAPITests.createCall(server)
        #expect(try await CallAPITests.upload(server, call: fine, filename: "f.mp3", content: try CallAPITests.audio("call30.mp3")).status == 202)
        #expect(try await CallAPITests.settled(server, call: fine)["status"] as? String == "ready")
        #expect(server.log.components(separatedBy: "crashing on purpose").count - 1 == 2)
        await server.stop()
    }

    /// A file on which the worker's analysis never ends: after `--analysis-timeout` without an
    /// answer the worker is killed and replaced, the analysis retried once, then the call is
    /// `failed`; other recordings are still analysed and the server is ready again.
    @Test func aRecordingThatHangsWorkersFailsAfterOneRetry() async throws {
        // 4 s: long enough for the healthy analysis below on a loaded machine (2 s was not, once,
        // with the whole suite running on a slow host).
        let server = try await TestServer.start(arguments: ["--analysis-timeout", "4"], environment: ["CALLSTREAM_WORKER_HANG_ON_PATH": ".wav"])
        defer { Task { await server.stop() } }
        let stuck = try await CallAPITests.createCall(server)
        #expect(try await CallAPITests.upload(server, call: stuck, filename: "h.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202)
        let failed = try await CallAPITests.settled(server, call: stuck)
        #expect(failed["status"] as? String == "failed")
        let error = (failed["recording"] as? [String: Any])?["error"] as? String
        #expect(error == "the worker analysing this recording stopped making progress and was stopped (2 attempts)")
        #expect(server.log.components(separatedBy: "hanging on purpose").count - 1 == 2)
        #expect(server.log.components(separatedBy: "an analysis made no progress in time").count - 1 == 2)

        let fine = try await CallAPITests.createCall(server)
        #expect(try await CallAPITests.upload(server, call: fine, filename: "f.mp3", content: try CallAPITests.audio("call30.mp3")).status == 202)
        #expect(try await CallAPITests.settled(server, call: fine)["status"] as? String == "ready")
        try await server.waitUntilReady()
        await server.stop()
    }
}
