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
}
