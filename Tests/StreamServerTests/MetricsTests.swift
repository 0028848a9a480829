import Foundation
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A parsed Prometheus text exposition: each sample by its series (`name{labels}` as written).
struct Exposition {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { self.types[String(parts[2])] = String(parts[3]) }
                continue
            }
            if line.hasPrefix("#") { continue }
            // The value follows the last space; label values here never hold one.
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw ExpositionError.badLine(String(line))
            }
            self.samples[String(line[..<space])] = value
        }
    }

    subscript(_ series: String) -> Double { self.samples[series] ?? 0 }
}

enum ExpositionError: Error {
    case badLine(String)
}

@Suite struct MetricsTests {
    static func scrape(_ server: TestServer) async throws -> Exposition {
        let (status, body) = try await server.get("/metrics")
        #expect(status == 200)
        return try Exposition(body)
    }

    @Test func theExpositionParsesAndNamesEveryFamily() async throws {
        try await withServer(workers: 2) { server in
            // Workers report once a second; wait for their first stats.
            var metrics = try await Self.scrape(server)
            func reported(_ worker: Int) -> Bool { metrics["callstream_worker_resident_memory_bytes{worker=\"\(worker)\"}"] > 0 }
            for _ in 0..<100 where !reported(0) || !reported(1) {
                try await Task.sleep(for: .milliseconds(50))
                metrics = try await Self.scrape(server)
            }
            let expected: [String: String] = [
                "callstream_ws_connections": "gauge",
                "callstream_ws_connections_total": "counter",
                "callstream_chunks_total": "counter",
                "callstream_chunk_bytes_total": "counter",
                "callstream_results_total": "counter",
                "callstream_sessions": "gauge",
                "callstream_ack_latency_seconds": "histogram",
                "callstream_transcript_latency_seconds": "histogram",
                "callstream_pipeline_seconds": "histogram",
                "callstream_workers": "gauge",
                "callstream_worker_restarts_total": "counter",
                "callstream_worker_queue_depth": "gauge",
                "callstream_recordings": "gauge",
                "callstream_audio_seconds_processed_total": "counter",
                "process_cpu_seconds_total": "counter",
                "process_resident_memory_bytes": "gauge",
                "process_open_fds": "gauge",
                "callstream_sqlite_memory_bytes": "gauge",
                "callstream_worker_cpu_seconds_total": "counter",
                "callstream_worker_resident_memory_bytes": "gauge",
                "callstream_worker_open_fds": "gauge",
            ]
            for (name, type) in expected {
                #expect(metrics.types[name] == type, "\(name)")
            }
            #expect(metrics["callstream_workers{state=\"up\"}"] == 2)
            #expect(metrics["process_resident_memory_bytes"] > 1_000_000)
            #expect(metrics["process_open_fds"] > 5)
            // The migrations and the calls above went through SQLite.
            #expect(metrics["callstream_sqlite_memory_bytes"] > 10_000)
            #expect(metrics["callstream_worker_resident_memory_bytes{worker=\"0\"}"] > 1_000_000)
            #expect(metrics["callstream_worker_open_fds{worker=\"1\"}"] >= 3, "stdin, stdout, stderr at least")
        }
    }

    @Test func streamingMovesTheChunkSeries() async throws {
        try await withServer { server in
            let before = try await Self.scrape(server)
            let chunks = 30
            var socket = try await TestWebSocket.connect(port: server.port)
            var checker = StreamChecker()
            for _ in 0..<chunks {
                _ = checker.didSend(size: 1000)
                try await socket.sendBinary(count: 1000)
            }
            while !checker.isComplete, let message = try await socket.nextMessage() {
                _ = checker.receive(message)
            }
            #expect(checker.isComplete)
            let during = try await Self.scrape(server)
            #expect(during["callstream_ws_connections"] == 1)
            await socket.close()

            let after = try await Self.scrape(server)
            #expect(after["callstream_chunks_total"] - before["callstream_chunks_total"] == Double(chunks))
            #expect(after["callstream_chunk_bytes_total"] - before["callstream_chunk_bytes_total"] == Double(chunks * 1000))
            #expect(
                after["callstream_results_total{type=\"transcript\"}"] - before["callstream_results_total{type=\"transcript\"}"] == Double(chunks)
            )
            #expect(
                after["callstream_ws_connections_total{result=\"accepted\"}"] - before["callstream_ws_connections_total{result=\"accepted\"}"] == 1
            )
            #expect(after["callstream_ack_latency_seconds_count"] - before["callstream_ack_latency_seconds_count"] == Double(chunks))
            #expect(after["callstream_transcript_latency_seconds_count"] - before["callstream_transcript_latency_seconds_count"] == Double(chunks))
            #expect(after["callstream_transcript_latency_seconds_bucket{le=\"+Inf\"}"] == after["callstream_transcript_latency_seconds_count"])

            // A plain GET on the stream endpoint is a refused upgrade.
            _ = try await server.get("/api/audio/ws")
            let refused = try await Self.scrape(server)
            #expect(
                refused["callstream_ws_connections_total{result=\"rejected\"}"] - after["callstream_ws_connections_total{result=\"rejected\"}"] == 1
            )
        }
    }

    @Test func anUploadMovesThePipelineAndHTTPSeries() async throws {
        try await withServer { server in
            let before = try await Self.scrape(server)
            let call = try await CallAPITests.createCall(server)
            let answer = try await CallAPITests.upload(server, call: call, filename: "call30.wav", content: try CallAPITests.audio("call30.wav"))
            #expect(answer.status == 202)
            _ = try await CallAPITests.settled(server, call: call)
            let after = try await Self.scrape(server)

            let upload = "route=\"/calls/{id}/recording\",method=\"POST\",status=\"202\""
            #expect(
                after["callstream_http_request_duration_seconds_count{\(upload)}"]
                    - before["callstream_http_request_duration_seconds_count{\(upload)}"] == 1
            )
            let create = "route=\"/calls\",method=\"POST\",status=\"201\""
            #expect(after["callstream_http_request_duration_seconds_count{\(create)}"] == 1)
            for stage in ["decode", "silence", "transcribe"] {
                #expect(
                    after["callstream_pipeline_seconds_count{stage=\"\(stage)\"}"] - before["callstream_pipeline_seconds_count{stage=\"\(stage)\"}"]
                        == 1,
                    "\(stage)"
                )
            }
            #expect(after["callstream_pipeline_seconds_sum{stage=\"decode\"}"] > 0)
            let seconds =
                after["callstream_audio_seconds_processed_total{source=\"upload\"}"]
                - before["callstream_audio_seconds_processed_total{source=\"upload\"}"]
            #expect(abs(seconds - (try CallAPITests.expectedCall30().duration_sec)) < 0.05)
            #expect(after["callstream_recordings{status=\"ready\"}"] == 1)
            // Raw paths never become labels: the call's id appears nowhere.
            let (_, text) = try await server.get("/metrics")
            #expect(!text.contains(call))
        }
    }

    @Test func aKilledWorkerCountsOneCrashRestart() async throws {
        try await withServer { server in
            let before = try await Self.scrape(server)
            let pids = server.workerPIDs()
            try #require(pids.count == 1)
            kill(pids[0], SIGKILL)
            var after = try await Self.scrape(server)
            for _ in 0..<200 {
                let restarted =
                    after["callstream_worker_restarts_total{reason=\"crash\"}"] > before["callstream_worker_restarts_total{reason=\"crash\"}"]
                if restarted, after["callstream_workers{state=\"up\"}"] == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
                after = try await Self.scrape(server)
            }
            #expect(after["callstream_worker_restarts_total{reason=\"crash\"}"] - before["callstream_worker_restarts_total{reason=\"crash\"}"] == 1)
            #expect(after["callstream_worker_restarts_total{reason=\"hang\"}"] == before["callstream_worker_restarts_total{reason=\"hang\"}"])
            #expect(after["callstream_workers{state=\"up\"}"] == 1)
        }
    }
}
