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
}
