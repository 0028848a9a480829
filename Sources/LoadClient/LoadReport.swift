import Foundation
import Histogram
import Protocol
import SpeechRecognition

/// The numbers a run produced, printed as a table or as one JSON object.
struct LoadReport: Encodable {
    struct Latency: Encodable {
        let count: Int
        let p50Ms: Double
        let p90Ms: Double
        let p95Ms: Double
        let p99Ms: Double
        let maxMs: Double

        enum CodingKeys: String, CodingKey {
            case count
            case p50Ms = "p50_ms"
            case p90Ms = "p90_ms"
            case p95Ms = "p95_ms"
            case p99Ms = "p99_ms"
            case maxMs = "max_ms"
        }

        init(micros: [[UInt32]]) {
            var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
            var count = 0
            for samples in micros {
                for sample in samples {
                    _ = histogram.record(UInt64(sample))
                    count += 1
                }
            }
            func ms(_ micros: UInt64) -> Double { (Double(micros) / 1000 * 1000).rounded() / 1000 }
            self.count = count
            self.p50Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(50))
            self.p90Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(90))
            self.p95Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(95))
            self.p99Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(99))
            self.maxMs = count == 0 ? 0 : ms(histogram.max)
        }
    }

    let clients: Int
    let connectionsOpened: Int
    let connectionsFailed: Int
    let connectionsClosedEarly: Int
    let chunksSent: Int
    let acks: Int
    let transcripts: Int
    let missingAcks: Int
    let missingTranscripts: Int
    /// Chunks answered with an error naming their seq instead of a transcript.
    let answeredByError: Int
    let duplicates: Int
    let outOfOrder: Int
    let malformed: Int
    let serverErrors: Int
    let unexpected: Int
    let clientIDChanges: Int
    let seconds: Double
    let chunksPerSecond: Double
    let ackLatency: Latency
    let transcriptLatency: Latency
    let errors: [String]
    let ok: Bool
    /// Started sessions (`--wav`): their calls, and how many times they were resumed.
    let callIDs: [String]
    let resumes: Int
    /// Started sessions: from sending `start` to its `started` (the setup, before streaming).
    let startLatency: Latency
    /// Real engines: finals received, end of speech to final (real-time pace), and with
    /// `--expect-text` the word error rate of each session's finals against the reference.
    let finals: Int
    let finalLatency: Latency
    let wordErrorRate: Double?
    /// Each session's finals as one text (for scoring with other tools).
    let finalTexts: [String]

    enum CodingKeys: String, CodingKey {
        case clients
        case connectionsOpened = "connections_opened"
        case connectionsFailed = "connections_failed"
        case connectionsClosedEarly = "connections_closed_early"
        case chunksSent = "chunks_sent"
        case acks, transcripts
        case missingAcks = "missing_acks"
        case missingTranscripts = "missing_transcripts"
        case answeredByError = "answered_by_error"
        case duplicates
        case outOfOrder = "out_of_order"
        case malformed
        case serverErrors = "server_errors"
        case unexpected
        case clientIDChanges = "client_id_changes"
        case seconds
        case chunksPerSecond = "chunks_per_second"
        case ackLatency = "send_to_ack"
        case transcriptLatency = "send_to_transcript"
        case errors, ok, resumes, finals
        case callIDs = "call_ids"
        case startLatency = "start_to_started"
        case finalLatency = "speech_end_to_final"
        case wordErrorRate = "word_error_rate"
        case finalTexts = "final_texts"
    }

    init(configuration: LoadConfiguration, result: LoadRun.Result) {
        var counts = StreamChecker.Counts()
        var closedEarly = 0
        var firstSend = UInt64.max
        var lastReply: UInt64 = 0
        var errors = result.connectErrors
        for outcome in result.outcomes {
            counts.add(outcome.counts)
            if outcome.closedEarly { closedEarly += 1 }
            if outcome.firstSend > 0 { firstSend = min(firstSend, outcome.firstSend) }
            lastReply = max(lastReply, outcome.lastReply)
            for violation in outcome.violations where errors.count < 10 { errors.append(violation) }
        }
        self.clients = configuration.clients
        self.connectionsOpened = result.opened
        self.connectionsFailed = result.failed
        self.connectionsClosedEarly = closedEarly
        self.chunksSent = counts.sent
        self.acks = counts.acks
        self.transcripts = counts.transcripts
        self.missingAcks = counts.sent - counts.acks
        self.missingTranscripts = counts.sent - counts.transcripts - counts.answeredByError
        self.answeredByError = counts.answeredByError
        self.duplicates = counts.duplicates
        self.outOfOrder = counts.outOfOrder
        self.malformed = counts.malformed
        self.serverErrors = counts.serverErrors
        self.unexpected = counts.unexpected
        self.clientIDChanges = counts.clientIDChanges
        let span = lastReply > firstSend ? Double(lastReply - firstSend) / 1e9 : 0
        self.seconds = (span * 1000).rounded() / 1000
        self.chunksPerSecond = span > 0 ? (Double(counts.transcripts) / span).rounded() : 0
        self.ackLatency = Latency(micros: result.outcomes.map(\.ackMicros))
        self.transcriptLatency = Latency(micros: result.outcomes.map(\.transcriptMicros))
        self.errors = errors
        self.callIDs = result.outcomes.compactMap(\.callID)
        self.resumes = result.outcomes.reduce(0) { $0 + $1.resumes }
        self.startLatency = Latency(micros: [result.outcomes.compactMap(\.startMicros)])
        self.finals = counts.finals
        self.finalTexts = counts.finals > 0 ? result.outcomes.map { Self.transcript($0.finals) } : []
        self.finalLatency = Latency(micros: result.outcomes.map(\.finalLagMicros))
        self.wordErrorRate = configuration.expectedText.map { reference in
            let rates = result.outcomes.map { outcome in
                WordErrorRate.of(hypothesis: Self.transcript(outcome.finals), reference: reference)
            }
            return rates.isEmpty ? 1 : (rates.reduce(0, +) / Double(rates.count) * 10_000).rounded() / 10_000
        }
        // Closing early counts only when a stream still owed replies: an idle hold may end any way.
        let lost = self.missingAcks + self.missingTranscripts
        self.ok =
            result.failed == 0 && counts.violations == 0 && lost == 0
            && result.opened == configuration.clients
    }

    /// A session's finals as one text, in time order (a stereo call's legs interleaved).
    static func transcript(_ finals: [(channel: Int, startMs: Int64, text: String)]) -> String {
        finals.sorted { ($0.startMs, $0.channel) < ($1.startMs, $1.channel) }.map(\.text).joined(separator: " ")
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        func row(_ name: String, _ value: Any) -> String { name.padding(toLength: 28, withPad: " ", startingAt: 0) + "\(value)" }
        func latency(_ name: String, _ l: Latency) -> String {
            row(name, "p50 \(l.p50Ms) ms  p90 \(l.p90Ms) ms  p99 \(l.p99Ms) ms  max \(l.maxMs) ms  (n=\(l.count))")
        }
        var lines = [
            row("connections opened/failed", "\(self.connectionsOpened)/\(self.connectionsFailed) of \(self.clients)"),
            row("chunks sent", self.chunksSent),
            row("acks received", "\(self.acks) (missing \(self.missingAcks))"),
            row("transcripts received", "\(self.transcripts) (missing \(self.missingTranscripts))"),
            row("duplicates/out of order", "\(self.duplicates)/\(self.outOfOrder)"),
            row("malformed/errors/unexpected", "\(self.malformed)/\(self.serverErrors)/\(self.unexpected)"),
            row("seconds (first send→last)", self.seconds),
            row("chunks/s", self.chunksPerSecond),
            latency("send→ack", self.ackLatency),
            latency("send→transcript", self.transcriptLatency),
        ]
        if self.finals > 0 || self.wordErrorRate != nil {
            lines.append(latency("speech end→final", self.finalLatency))
            lines.append(row("finals", self.finals))
        }
        if let wordErrorRate = self.wordErrorRate {
            lines.append(row("word error rate", "\((wordErrorRate * 1000).rounded() / 10) %"))
        }
        if !self.callIDs.isEmpty || self.resumes > 0 {
            lines.append(row("sessions recorded/resumes", "\(self.callIDs.count)/\(self.resumes)"))
        }
        if self.startLatency.count > 0 {
            lines.append(latency("start→started", self.startLatency))
        }
        for error in self.errors { lines.append(row("error", error)) }
        lines.append(row("result", self.ok ? "OK" : "FAILED"))
        return lines.joined(separator: "\n")
    }
}
