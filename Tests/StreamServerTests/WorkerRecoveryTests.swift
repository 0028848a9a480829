import Foundation
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Workers are separate processes; losing one must cost nothing a client can see.
@Suite struct WorkerRecoveryTests {
    @Test func killingAWorkerLosesNoTranscript() async throws {
        // A slow mock engine keeps chunks in flight when the worker is killed.
        try await withServer(arguments: ["--mock-latency-ms", "20"]) { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            var checker = StreamChecker()
            let chunks = 40
            for _ in 0..<chunks {
                _ = checker.didSend(size: 2048)
                try await socket.sendBinary(count: 2048)
            }
            var killed = false
            while !checker.isComplete, let message = try await socket.nextMessage() {
                if case .violation(let why) = checker.receive(message) { Issue.record("\(why)") }
                if !killed, checker.counts.transcripts == 5 {
                    let pids = server.workerPIDs()
                    try #require(pids.count == 1)
                    kill(pids[0], SIGKILL)
                    killed = true
                }
            }
            #expect(killed)
            #expect(checker.isComplete, "every acked chunk still gets its transcript")
            #expect(checker.counts.violations == 0, "no duplicates, no reordering")
            await socket.close()
            // The server may hear of the death after the last transcript: on a loaded machine the
            // worker can have answered everything before the kill (seen once in CI), and until
            // the server notices, it still reports ready.
            try await PBXIngestTests.waitFor("the worker's death noticed") { server.log.contains("worker died, restarting it") }
            // The replacement is up and serving.
            try await server.waitUntilReady()
            #expect(server.log.contains("worker died, restarting it"))
        }
    }

    @Test func readinessIsNotReadyWhileNoWorkerIsAlive() async throws {
        // A worker binary that exits at once: the pool keeps restarting it, no worker is ever up.
        try await withServer(arguments: ["--worker-path", "/bin/false"], waitForReady: false) { server in
            let (status, body) = try await server.get("/readyz")
            #expect(status == 503)
            #expect(body.contains(#""not_ready":[0]"#))
            #expect(body.contains(#""workers":0"#))
            #expect(try await server.get("/healthz").0 == 200, "the process itself is alive")
        }
    }

    @Test func aKilledWorkerIsReplacedAndReadinessReturns() async throws {
        try await withServer { server in
            let before = server.workerPIDs()
            try #require(before.count == 1)
            kill(before[0], SIGKILL)
            var after: [pid_t] = []
            for _ in 0..<500 where after.isEmpty || after == before {
                try await Task.sleep(for: .milliseconds(10))
                after = server.workerPIDs()
            }
            #expect(after.count == 1)
            #expect(after != before)
            try await server.waitUntilReady()
            #expect(try await server.get("/readyz").0 == 200)
        }
    }

    /// A worker that stops answering (here: SIGSTOP, as if hung on a chunk) is killed after
    /// `--worker-timeout` and replaced; its unanswered chunks go to the replacement.
    @Test func aHungWorkerIsKilledAndItsChunksGoToTheReplacement() async throws {
        try await withServer(arguments: ["--worker-timeout", "1"]) { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            var checker = StreamChecker()
            _ = checker.didSend(size: 100)
            try await socket.sendBinary(count: 100)
            while checker.counts.transcripts < 1, let message = try await socket.nextMessage() {
                _ = checker.receive(message)
            }
            let hung = server.workerPIDs()
            try #require(hung.count == 1)
            kill(hung[0], SIGSTOP)
            for _ in 0..<10 {
                _ = checker.didSend(size: 100)
                try await socket.sendBinary(count: 100)
            }
            while !checker.isComplete, let message = try await socket.nextMessage(timeout: .seconds(15)) {
                if case .violation(let why) = checker.receive(message) { Issue.record("\(why)") }
            }
            #expect(checker.isComplete, "every acked chunk gets its transcript from the replacement")
            #expect(server.log.contains("killing it as hung"))
            #expect(!server.workerPIDs().contains(hung[0]))
            let metrics = try await MetricsTests.scrape(server)
            #expect(metrics[#"callstream_worker_restarts_total{reason="hang"}"#] == 1)
            await socket.close()
        }
    }

    /// A chunk that hangs two workers in a row is poison: it is answered with an error naming
    /// its seq, and the chunks after it are transcribed.
    @Test func aChunkThatHangsTwoWorkersGetsAnErrorAndTheRestGoOn() async throws {
        let server = try await TestServer.start(arguments: ["--worker-timeout", "1"], environment: ["CALLSTREAM_WORKER_HANG_ON_CHUNK_BYTES": "777"])
        do {
            var socket = try await TestWebSocket.connect(port: server.port)
            for size in [100, 777, 100] {
                try await socket.sendBinary(count: size)
            }
            var answers: [String] = []
            while answers.count < 3, let message = try await socket.nextMessage(timeout: .seconds(15)) {
                guard message.type != "ack" else { continue }
                answers.append("\(message.seq ?? 0):\(message.type ?? ""):\(message.error?.code ?? "")")
            }
            #expect(answers == ["1:transcript:", "2:error:worker_crashed", "3:transcript:"])
            await socket.close()
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
