import Foundation
import Logging
import Telephony

/// The watched folders' pairs, from noticed to sent: a pair is taken once both files have
/// stopped changing for `settle`, sent (retrying with backoff while the server is away), then
/// moved to `doneDirectory` or deleted; a pair that cannot be sent as it is goes to
/// `rejected/` in its folder with a `.error` file saying why.
actor Ingester {
    struct Settings: Sendable {
        var settle: Duration = .seconds(2)
        var concurrency = 4
        var retryMaximumSeconds = 30.0
        /// nil: delete sent pairs.
        var doneDirectory: String?
    }

    private let client: IngestClient
    private let settings: Settings
    private let logger: Logger
    /// Pairs seen, with their fingerprint and since when it has not changed.
    private var candidates: [RecordingPair: (fingerprint: [Int64], since: ContinuousClock.Instant)] = [:]
    private var sending: Set<RecordingPair> = []
    private var finished = 0

    init(client: IngestClient, settings: Settings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    func note(_ pair: RecordingPair) {
        guard !self.sending.contains(pair), self.candidates[pair] == nil, let fingerprint = pair.fingerprint else { return }
        self.candidates[pair] = (fingerprint, .now)
    }

    /// Takes the pairs that have settled, as far as the concurrency allows.
    func tick() {
        let now = ContinuousClock.now
        for (pair, seen) in self.candidates.sorted(by: { $0.key.base < $1.key.base }) {
            guard self.sending.count < self.settings.concurrency else { return }
            guard let fingerprint = pair.fingerprint else {
                self.candidates[pair] = nil  // gone (taken by another pbx-ingest, or by hand)
                continue
            }
            guard fingerprint == seen.fingerprint else {
                self.candidates[pair] = (fingerprint, now)  // still being written
                continue
            }
            guard now - seen.since >= self.settings.settle else { continue }
            self.candidates[pair] = nil
            self.sending.insert(pair)
            Task { await self.process(pair) }
        }
    }

    private func process(_ pair: RecordingPair) async {
        defer { self.sending.remove(pair) }
        let metadataBytes: Data
        let metadata: PBXMetadata
        do {
            metadataBytes = try Data(contentsOf: URL(fileURLWithPath: pair.metadataPath))
            metadata = try PBXMetadata.parse(metadataBytes)
        } catch {
            return self.reject(pair, because: "\(error)")
        }
        var backoff = Backoff(maximum: self.settings.retryMaximumSeconds)
        while true {
            do {
                let call = try await self.client.send(pair, metadata: metadata, metadataBytes: metadataBytes)
                if ProcessInfo.processInfo.environment["PBX_INGEST_CRASH_AFTER_UPLOAD"] == "1" {
                    self.logger.critical("crashing on purpose after the upload (PBX_INGEST_CRASH_AFTER_UPLOAD)")
                    abort()
                }
                self.logger.info("sent", metadata: ["pair": "\(pair.audioPath)", "call_id": "\(call)"])
                return self.done(pair)
            } catch  where IngestClient.isRetryable(error) {
                let wait = backoff.next()
                self.logger.warning("server unavailable; retrying", metadata: ["pair": "\(pair.audioName)", "in": "\(wait)", "error": "\(error)"])
                try? await Task.sleep(for: wait)
            } catch {
                return self.reject(pair, because: "\(error)")
            }
        }
    }

    private func done(_ pair: RecordingPair) {
        self.finished += 1
        let files = [pair.audioName, pair.metadataName]
        for name in files {
            let source = "\(pair.folder)/\(name)"
            if let directory = self.settings.doneDirectory {
                Self.move(source, to: "\(directory)/\(name)")
            } else {
                try? FileManager.default.removeItem(atPath: source)
            }
        }
    }

    private func reject(_ pair: RecordingPair, because reason: String) {
        self.logger.error("rejected", metadata: ["pair": "\(pair.audioPath)", "reason": "\(reason)"])
        let rejected = "\(pair.folder)/rejected"
        try? FileManager.default.createDirectory(atPath: rejected, withIntermediateDirectories: true)
        for name in [pair.audioName, pair.metadataName] {
            Self.move("\(pair.folder)/\(name)", to: "\(rejected)/\(name)")
        }
        try? Data((reason + "\n").utf8).write(to: URL(fileURLWithPath: "\(rejected)/\(pair.base).error"))
    }

    /// Moves a file, replacing one of the same name (across file systems too).
    private static func move(_ source: String, to target: String) {
        try? FileManager.default.removeItem(atPath: target)
        if rename(source, target) != 0 {
            try? FileManager.default.copyItem(atPath: source, toPath: target)
            try? FileManager.default.removeItem(atPath: source)
        }
    }

    var sentCount: Int { self.finished }
}
