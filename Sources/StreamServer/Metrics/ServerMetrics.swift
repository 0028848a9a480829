import CoreMetrics
import GRDBSQLite
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import Protocol

/// Every series `GET /metrics` shows, created through swift-metrics on a Prometheus registry of
/// this server's own.
///
/// Three kinds of source:
/// - events off the chunk path (restarts, upgrades refused, analyses, HTTP requests) go
///   straight to swift-metrics counters and timers;
/// - the chunk path counts into `LoopMetrics`, one per event loop, and the scrape adds what
///   they gathered since the last scrape to the counters (the latency histograms, which
///   swift-prometheus guards with a lock per observation, are rendered from them directly);
/// - levels (connections, sessions, workers, recordings, process figures) are read when
///   scraped.
final class ServerMetrics: Sendable {
    enum RestartReason: String, CaseIterable, Sendable {
        case crash
        case hang
        case startFailed = "start_failed"
    }

    enum PipelineStage: String, CaseIterable, Sendable {
        case decode, silence, transcribe
    }

    enum AudioSource: String, Sendable {
        case upload, session
    }

    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let loops: [ObjectIdentifier: LoopMetrics]

    let connectionsAccepted: CoreMetrics.Counter
    let connectionsRejected: CoreMetrics.Counter
    private let restarts: [RestartReason: CoreMetrics.Counter]
    private let pipeline: [PipelineStage: CoreMetrics.Timer]
    private let audioSeconds: [AudioSource: FloatingPointCounter]
    private let pushed = NIOLockedValueBox(Pushed())
    private let workerReports = NIOLockedValueBox([Int: (generation: Int, stats: WorkerStats)]())

    /// What the scrape has already added to the counters fed from loops and workers.
    private struct Pushed {
        var loops = LoopMetrics.Counts()
        var dropped: UInt64 = 0
        var serverCPU = 0.0
    }

    init(eventLoops: [any EventLoop]) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["callstream_pipeline_seconds"] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500),
            .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        self.registry = registry
        self.factory = factory
        self.loops = Dictionary(uniqueKeysWithValues: eventLoops.map { (ObjectIdentifier($0), LoopMetrics(eventLoop: $0)) })
        self.connectionsAccepted = CoreMetrics.Counter(
            label: "callstream_ws_connections_total",
            dimensions: [("result", "accepted")],
            factory: factory
        )
        self.connectionsRejected = CoreMetrics.Counter(
            label: "callstream_ws_connections_total",
            dimensions: [("result", "rejected")],
            factory: factory
        )
        self.restarts = Dictionary(
            uniqueKeysWithValues: RestartReason.allCases.map {
                ($0, CoreMetrics.Counter(label: "callstream_worker_restarts_total", dimensions: [("reason", $0.rawValue)], factory: factory))
            }
        )
        self.pipeline = Dictionary(
            uniqueKeysWithValues: PipelineStage.allCases.map {
                ($0, CoreMetrics.Timer(label: "callstream_pipeline_seconds", dimensions: [("stage", $0.rawValue)], factory: factory))
            }
        )
        self.audioSeconds = [
            .upload: CoreMetrics.FloatingPointCounter(
                label: "callstream_audio_seconds_processed_total",
                dimensions: [("source", "upload")],
                factory: factory
            ),
            .session: CoreMetrics.FloatingPointCounter(
                label: "callstream_audio_seconds_processed_total",
                dimensions: [("source", "session")],
                factory: factory
            ),
        ]
    }

    /// The chunk-path figures of `eventLoop`: use them only on that loop.
    func loop(_ eventLoop: any EventLoop) -> LoopMetrics? {
        self.loops[ObjectIdentifier(eventLoop)]
    }

    func retentionDeleted(_ calls: Int) {
        CoreMetrics.Counter(label: "callstream_retention_deleted_calls_total", factory: self.factory).increment(by: Int64(calls))
    }

    /// A Twilio message that was logged and skipped.
    func twilioSkipped(_ skip: TwilioIngress.Skip) {
        CoreMetrics.Counter(label: "callstream_twilio_messages_skipped_total", dimensions: [("reason", skip.rawValue)], factory: self.factory)
            .increment()
    }

    func workerRestarted(_ reason: RestartReason) {
        self.restarts[reason]?.increment()
    }

    /// A finished analysis: its stages' times, and the audio it covered.
    func analysed(_ result: AnalysisResult, source: AudioSource) {
        self.pipeline[.decode]?.recordSeconds(result.timings.decode)
        self.pipeline[.silence]?.recordSeconds(result.timings.silence)
        self.pipeline[.transcribe]?.recordSeconds(result.timings.transcribe)
        self.audioSeconds[source]?.increment(by: result.durationSec)
    }

    /// A worker's `stats` frame. Its counters restart with each process; the series add up
    /// every process's share, so they only grow.
    func workerReported(_ stats: WorkerStats, worker: Int, generation: Int) {
        let previous = self.workerReports.withLockedValue { reports -> WorkerStats? in
            defer { reports[worker] = (generation, stats) }
            guard let last = reports[worker], last.generation == generation else { return nil }
            return last.stats
        }
        let labels = [("worker", String(worker))]
        let base = previous ?? WorkerStats(process: .init(cpuSeconds: 0, residentBytes: 0, openFDs: 0), chunks: 0, chunkErrors: 0, analyses: 0)
        CoreMetrics.FloatingPointCounter(label: "callstream_worker_cpu_seconds_total", dimensions: labels, factory: self.factory)
            .increment(by: max(stats.process.cpuSeconds - base.process.cpuSeconds, 0))
        CoreMetrics.Counter(label: "callstream_worker_chunks_total", dimensions: labels, factory: self.factory)
            .increment(by: Int64(stats.chunks &- base.chunks))
        CoreMetrics.Counter(label: "callstream_worker_chunk_errors_total", dimensions: labels, factory: self.factory)
            .increment(by: Int64(stats.chunkErrors &- base.chunkErrors))
        CoreMetrics.Counter(label: "callstream_worker_analyses_total", dimensions: labels, factory: self.factory)
            .increment(by: Int64(stats.analyses &- base.analyses))
        CoreMetrics.Gauge(label: "callstream_worker_resident_memory_bytes", dimensions: labels, factory: self.factory).record(
            Double(stats.process.residentBytes)
        )
        CoreMetrics.Gauge(label: "callstream_worker_open_fds", dimensions: labels, factory: self.factory).record(Double(stats.process.openFDs))
        CoreMetrics.Gauge(label: "callstream_engine_segments_queued", dimensions: labels, factory: self.factory).record(Double(stats.segmentsQueued))
        CoreMetrics.Gauge(label: "callstream_engine_backlog_seconds", dimensions: labels, factory: self.factory).record(stats.secondsQueued)
    }

    /// The real engine's backlog over every worker, from their last reports: live segments
    /// waiting for their finals, and their audio in seconds (the worst worker's).
    func engineBacklog() -> (segments: Int, seconds: Double) {
        self.workerReports.withLockedValue { reports in
            reports.values.reduce(into: (0, 0.0)) { total, report in
                total.0 += Int(report.stats.segmentsQueued)
                total.1 = max(total.1, report.stats.secondsQueued)
            }
        }
    }

    // MARK: scrape

    /// Levels read at scrape time from the rest of the server.
    struct Levels: Sendable {
        var connections = 0
        var liveSessions = 0
        var waitingSessions = 0
        var workersUp = 0
        var workersStarting = 0
        var queueDepth = 0
        var droppedResults = 0
        var recordings: [String: Int] = [:]
    }

    /// The whole exposition: the registry's series, then the chunk-path histograms.
    func render(_ levels: Levels) async -> String {
        var counts = LoopMetrics.Counts()
        for loop in self.loops.values {
            if let snapshot = try? await loop.snapshot().get() { counts.add(snapshot) }
        }
        self.push(counts, levels)
        self.record(levels)
        var text = self.registry.emitToString()
        counts.ackLatency.render(
            name: "callstream_ack_latency_seconds",
            help: "Live chunk received to its ack frame written to the socket.",
            into: &text
        )
        counts.transcriptLatency.render(
            name: "callstream_transcript_latency_seconds",
            help: "Live chunk received to its transcript (or error) frame written to the socket.",
            into: &text
        )
        return text
    }

    /// Adds what the loops (and the router) counted since the last scrape to the counters.
    /// Two scrapes at once may take their snapshots in either order: only growth is added.
    private func push(_ counts: LoopMetrics.Counts, _ levels: Levels) {
        let process = ProcessStats.current()
        let deltas = self.pushed.withLockedValue { pushed -> [Int64] in
            [
                Self.growth(counts.chunks, &pushed.loops.chunks),
                Self.growth(counts.chunkBytes, &pushed.loops.chunkBytes),
                Self.growth(counts.transcripts, &pushed.loops.transcripts),
                Self.growth(counts.errors, &pushed.loops.errors),
                Self.growth(UInt64(levels.droppedResults), &pushed.dropped),
            ]
        }
        let cpu = self.pushed.withLockedValue { pushed -> Double in
            defer { pushed.serverCPU = max(pushed.serverCPU, process.cpuSeconds) }
            return max(process.cpuSeconds - pushed.serverCPU, 0)
        }
        let factory = self.factory
        CoreMetrics.Counter(label: "callstream_chunks_total", factory: factory).increment(by: deltas[0])
        CoreMetrics.Counter(label: "callstream_chunk_bytes_total", factory: factory).increment(by: deltas[1])
        CoreMetrics.Counter(label: "callstream_results_total", dimensions: [("type", "transcript")], factory: factory).increment(by: deltas[2])
        CoreMetrics.Counter(label: "callstream_results_total", dimensions: [("type", "error")], factory: factory).increment(by: deltas[3])
        CoreMetrics.Counter(label: "callstream_results_total", dimensions: [("type", "dropped")], factory: factory).increment(by: deltas[4])
        CoreMetrics.FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory).increment(by: cpu)
        CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory).record(Double(process.residentBytes))
        CoreMetrics.Gauge(label: "process_open_fds", factory: factory).record(Double(process.openFDs))
        // SQLite's share of the resident memory: mostly its page caches, which have a fixed
        // cap (CallDatabase), however many calls there are.
        CoreMetrics.Gauge(label: "callstream_sqlite_memory_bytes", factory: factory).record(Double(sqlite3_memory_used()))
    }

    /// How far `value` is past `pushed` (0 if not), moving `pushed` up to it.
    private static func growth(_ value: UInt64, _ pushed: inout UInt64) -> Int64 {
        guard value > pushed else { return 0 }
        defer { pushed = value }
        return Int64(value - pushed)
    }

    private func record(_ levels: Levels) {
        let factory = self.factory
        CoreMetrics.Gauge(label: "callstream_ws_connections", factory: factory).record(Double(levels.connections))
        CoreMetrics.Gauge(label: "callstream_sessions", dimensions: [("state", "live")], factory: factory).record(Double(levels.liveSessions))
        CoreMetrics.Gauge(label: "callstream_sessions", dimensions: [("state", "waiting_resume")], factory: factory).record(
            Double(levels.waitingSessions)
        )
        CoreMetrics.Gauge(label: "callstream_workers", dimensions: [("state", "up")], factory: factory).record(Double(levels.workersUp))
        CoreMetrics.Gauge(label: "callstream_workers", dimensions: [("state", "starting")], factory: factory).record(Double(levels.workersStarting))
        CoreMetrics.Gauge(label: "callstream_worker_queue_depth", factory: factory).record(Double(levels.queueDepth))
        for status in Set(["processing", "ready", "failed"]).union(levels.recordings.keys) {
            CoreMetrics.Gauge(label: "callstream_recordings", dimensions: [("status", status)], factory: factory).record(
                Double(levels.recordings[status] ?? 0)
            )
        }
    }
}
