import Foundation
import Logging
import ServiceLifecycle

/// Background upkeep of the call store: at start, finishes file deletions a crash cut short;
/// then every `interval`, forgets Idempotency-Key answers older than 24 h and, with
/// `--retention-days`, deletes calls that started longer ago than that, in small batches with
/// a pause between them, so requests never wait long behind it.
struct RetentionService: Service {
    struct Settings: Sendable {
        /// Calls that started longer ago than this are deleted; nil keeps them all.
        var retention: Duration?
        var interval: Duration = .seconds(3600)
        var batchSize = 100
        var pauseBetweenBatches: Duration = .milliseconds(50)
        static let idempotencyWindow: Duration = .seconds(24 * 3600)
    }

    let settings: Settings
    let repository: any CallRepository
    let deleter: CallDeleter
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        await self.deleter.finishPending(logger: self.logger)
        // No request survives a restart: reservations of the previous run are void.
        _ = try? await self.repository.forgetIdempotencyKeys(before: .init(milliseconds: 0), reservations: true)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.sweep()
                try? await Task.sleep(for: self.settings.interval)
            }
        }
    }

    /// One pass: expired idempotency answers, then calls past the retention period.
    func sweep() async {
        let keysBefore = Timestamp(Date().addingTimeInterval(-Settings.idempotencyWindow.seconds))
        _ = try? await self.repository.forgetIdempotencyKeys(before: keysBefore, reservations: false)
        guard let retention = self.settings.retention else { return }
        let cutoff = Timestamp(Date().addingTimeInterval(-retention.seconds))
        var deleted = 0
        var skipped = Set<UUID>()
        while !Task.isCancelled {
            let batch: [UUID]
            do {
                batch = try await self.repository.calls(startedBefore: cutoff, limit: self.settings.batchSize + skipped.count)
                    .filter { !skipped.contains($0) }
            } catch {
                self.logger.error("retention cannot list old calls", metadata: ["error": "\(error)"])
                break
            }
            if batch.isEmpty { break }
            for callID in batch {
                do {
                    try await self.deleter.delete(callID)
                    deleted += 1
                } catch {
                    // Live (or just deleted by a request): left for the next pass.
                    skipped.insert(callID)
                }
            }
            try? await Task.sleep(for: self.settings.pauseBetweenBatches)
        }
        if deleted > 0 {
            self.metrics.retentionDeleted(deleted)
            self.logger.info("retention deleted old calls", metadata: ["count": "\(deleted)", "started_before": "\(cutoff.iso8601)"])
        }
    }
}

extension Duration {
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
