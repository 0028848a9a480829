import Foundation
import NIOWebSocket
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct ShutdownTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalDrainsInFlightChunksThenClosesWith1001(signal: Int32) async throws {
        let server = try await TestServer.start(arguments: ["--mock-latency-ms", "30"])
        var socket = try await TestWebSocket.connect(port: server.port)
        var checker = StreamChecker()
        for _ in 0..<20 {
            _ = checker.didSend(size: 512)
            try await socket.sendBinary(count: 512)
        }
        // Wait for the acks, so all 20 chunks are in flight (the engine takes 30 ms each).
        while checker.counts.acks < 20, let message = try await socket.nextMessage() {
            _ = checker.receive(message)
        }
        let workers = server.workerPIDs()
        server.signal(signal)
        while let message = try await socket.nextMessage() {
            if case .violation(let why) = checker.receive(message) { Issue.record("\(why)") }
        }
        #expect(checker.isComplete, "transcripts still owed are delivered before closing")
        #expect(socket.closeCode == .goingAway)
        #expect(try await server.waitForExit() == 0)
        for pid in workers {
            #expect(kill(pid, 0) == -1, "worker \(pid) has exited")
        }
        await server.stop()
    }

    /// SIGTERM while a worker holds an analysis: if the worker answers before it is stopped,
    /// the answer is stored before the server exits (the call is `ready` at the next start,
    /// not analysed again); if it never answers, the recording is re-queued at the next start.
    /// Never stuck, never lost.
    @Test(arguments: [true, false])
    func sigtermDuringAnAnalysisStoresItOrRequeuesIt(workerAnswers: Bool) async throws {
        let first = try await TestServer.start(arguments: stoppedWorkersArguments)
        let workers = first.workerPIDs()
        for pid in workers { kill(pid, SIGSTOP) }
        let call = try await CallAPITests.createCall(first)
        let upload = try await CallAPITests.upload(first, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav"))
        #expect(upload.status == 202)
        // The job waits in the stopped worker's pipe.
        try await Task.sleep(for: .milliseconds(300))
        first.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        if workerAnswers {
            for pid in workers { kill(pid, SIGCONT) }
        }
        #expect(try await first.waitForExit(timeout: .seconds(30)) == 0)
        await first.stop(keepingData: true)
        // A worker that has not answered 5 s after its shutdown frame is killed: on a loaded
        // machine the continued worker may not finish the analysis in time, and then the
        // re-queue is the promise that holds.
        let answeredInTime = workerAnswers && !first.log.contains("worker did not stop in time")

        let second = try await TestServer.start(dataDir: first.dataDir)
        if answeredInTime {
            let stored = try await second.request("GET", "/calls/\(call)")
            #expect(stored.json["status"] as? String == "ready", "stored before the first run exited")
            #expect(!second.log.contains("re-queueing"))
        } else {
            #expect(second.log.contains("re-queueing recordings left processing"))
        }
        let settled = try await CallAPITests.settled(second, call: call)
        #expect(settled["status"] as? String == "ready")
        #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 30)
        await second.stop()
    }
}
