import Atomics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Protocol
import ServiceLifecycle

/// Takes recordings whose analysis is owed and sees it done.
protocol RecordingAnalysisQueue: Sendable {
    func enqueue(_ recording: Recording)
}

/// Sees every uploaded recording analysed by a worker: sends the job, stores the answer (the
/// call becomes `ready`, or `failed` with the worker's error), retries once when a worker dies
/// holding the job, and at start re-queues what a previous run left `processing`.
///
/// All of that bookkeeping is owned by `run`: the queue, the workers and the pipes only post
/// events, and `run` handles them one at a time. On shutdown `run` handles every event already
/// posted before it returns, and it is the last service to stop (after the workers, which
/// answer their analyses before they exit), so an answer is never lost between a worker and
/// the database; a recording whose answer did not come is still `processing` and is re-queued
/// at the next start.
final class RecordingAnalyses: Service, RecordingAnalysisQueue, AnalysisResultSink {
    private enum Event: Sendable {
        case start(Recording)
        case finished(AnalysisJob, Result<AnalysisResult, AnalysisFailure>)
        case lost(AnalysisJob, attempt: Int, stalled: Bool)
    }
    struct Settings: Sendable {
        var minSilenceMs = 500
        var silenceThresholdDBFS = -40.0
        var transcribeSeconds = 20
        /// `--archive-format mp3`: each WAV recording's analysis also writes its permanent MP3
        /// copy at this bitrate (kbps), which then replaces it. Nil keeps the WAV.
        var archiveBitrateKbps: Int?
        /// Attempts (counted in the database, across restarts) before a recording whose
        /// analysis keeps killing workers is marked failed.
        var maxAttempts = 2
    }

    private let repository: any CallRepository
    private let files: RecordingFiles
    private let workers: WorkerPool
    private let metrics: ServerMetrics
    private let settings: Settings
    private let logger: Logger
    private let nextJobID = ManagedAtomic<UInt64>(1)
    /// The attempt number and the recording's origin of each job in flight.
    private let attempts = NIOLockedValueBox<[UInt64: (attempt: Int, origin: RecordingOrigin)]>([:])
    /// Unbounded, but holds at most a few events per recording in flight.
    private let events: AsyncStream<Event>
    private let post: AsyncStream<Event>.Continuation

    init(repository: any CallRepository, files: RecordingFiles, workers: WorkerPool, metrics: ServerMetrics, settings: Settings, logger: Logger) {
        self.repository = repository
        self.files = files
        self.workers = workers
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
        (self.events, self.post) = AsyncStream.makeStream(of: Event.self)
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.requeueOwed()
            for await event in self.events {
                await self.handle(event)
            }
        } onGracefulShutdown: {
            // The loop above handles what was posted so far, then ends.
            self.post.finish()
        }
    }

    private func handle(_ event: Event) async {
        switch event {
        case .start(let recording):
            await self.start(recording)
        case .finished(let job, let outcome):
            await self.store(job, outcome: outcome)
        case .lost(let job, let attempt, let stalled):
            await self.retryOrFail(job, attempt: attempt, stalled: stalled)
        }
    }

    private func requeueOwed() async throws {
        let owed = try await self.repository.pendingRecordings()
        if !owed.isEmpty {
            self.logger.info("re-queueing recordings left processing", metadata: ["count": "\(owed.count)"])
        }
        for recording in owed {
            if recording.isLiveUnfinished {
                guard await self.repairLive(recording) else { continue }
            }
            await self.start(recording)
        }
    }

    /// A live session's file the previous run left unfinished (it was killed mid-session):
    /// its header is repaired from the file's length so it is analysed like any other. False
    /// when there is nothing usable (the call is then `failed`).
    private func repairLive(_ recording: Recording) async -> Bool {
        let path = self.files.absolutePath(recording.storedPath)
        do {
            let repaired = try await BackgroundThreads.files.runIfActive { try LiveRecordingFile.repair(path: path) }
            try await self.repository.finishLive(recordingID: recording.id, sizeBytes: repaired.sizeBytes, sha256: repaired.sha256)
            self.logger.notice(
                "finalised a live recording left unfinished by the previous run",
                metadata: ["recording": "\(recording.id)", "audio_bytes": "\(repaired.dataBytes)"]
            )
            return true
        } catch {
            self.logger.error("cannot repair a live recording", metadata: ["recording": "\(recording.id)", "error": "\(error)"])
            try? await self.repository.fail(
                recordingID: recording.id,
                error: "the server stopped during the live session and its recording could not be recovered: \(error)"
            )
            return false
        }
    }

    func enqueue(_ recording: Recording) {
        self.post.yield(.start(recording))
    }

    private func start(_ recording: Recording) async {
        let recordingID = recording.id
        let storedPath = recording.storedPath
        do {
            let attempt = try await self.repository.beginAnalysis(recordingID: recordingID)
            let jobID = self.nextJobID.loadThenWrappingIncrement(ordering: .relaxed)
            self.attempts.withLockedValue { $0[jobID] = (attempt, recording.origin) }
            self.workers.submit(
                AnalysisJob(
                    jobID: jobID,
                    recordingID: recordingID.uuidString.lowercased(),
                    path: self.files.absolutePath(storedPath),
                    minSilenceMs: UInt32(self.settings.minSilenceMs),
                    silenceThresholdDBFS: self.settings.silenceThresholdDBFS,
                    transcribeSeconds: UInt32(self.settings.transcribeSeconds),
                    archive: self.archiveRequest(for: recording)
                )
            )
        } catch {
            self.logger.error("cannot start an analysis", metadata: ["recording": "\(recordingID)", "error": "\(error)"])
        }
    }

    /// A WAV recording not yet archived gets its MP3 copy, named like the recording.
    private func archiveRequest(for recording: Recording) -> ArchiveRequest? {
        guard let bitrate = self.settings.archiveBitrateKbps, recording.format == .wav, recording.archivedFormat == nil else { return nil }
        return ArchiveRequest(path: self.files.absolutePath(self.files.relativePath(id: recording.id, format: .mp3)), bitrateKbps: UInt32(bitrate))
    }

    func finished(_ job: AnalysisJob, outcome: Result<AnalysisResult, AnalysisFailure>) {
        let origin = self.attempts.withLockedValue { $0.removeValue(forKey: job.jobID) }?.origin
        guard UUID(uuidString: job.recordingID) != nil else { return }
        if case .success(let result) = outcome {
            self.metrics.analysed(result, source: origin == .live ? .session : .upload)
        }
        self.post.yield(.finished(job, outcome))
    }

    private func store(_ job: AnalysisJob, outcome: Result<AnalysisResult, AnalysisFailure>) async {
        guard let recordingID = UUID(uuidString: job.recordingID) else { return }
        do {
            switch outcome {
            case .success(let result):
                let original = try await self.repository.find(recordingID: recordingID)?.storedPath
                let archive = result.archive.map {
                    RecordingAnalysis.Archive(
                        storedPath: self.files.relativePath(id: recordingID, format: .mp3),
                        format: .mp3,
                        sizeBytes: $0.sizeBytes,
                        sha256: $0.sha256
                    )
                }
                let analysis = RecordingAnalysis(
                    durationSec: result.durationSec,
                    silenceMarks: result.silences.map { SilenceMark(startMs: Int($0.startMs), endMs: Int($0.endMs)) },
                    transcription: result.transcription,
                    segments: result.segments,
                    archive: archive
                )
                do {
                    try await self.repository.complete(recordingID: recordingID, analysis: analysis)
                } catch {
                    // Not stored (the call was deleted meanwhile): nor is its archive kept.
                    if let archive { self.files.remove(archive.storedPath) }
                    throw error
                }
                // The archive is the recording now: the temporary original goes.
                if let archive, let original, original != archive.storedPath { self.files.remove(original) }
            case .failure(let failure):
                self.logger.notice("recording could not be analysed", metadata: ["recording": "\(recordingID)", "error": "\(failure.message)"])
                try await self.repository.fail(recordingID: recordingID, error: failure.message)
            }
        } catch {
            self.logger.error("cannot store an analysis", metadata: ["recording": "\(recordingID)", "error": "\(error)"])
        }
    }

    func lost(_ jobs: [AnalysisJob], stalled: Bool) {
        for job in jobs {
            let attempt = self.attempts.withLockedValue { $0.removeValue(forKey: job.jobID) }?.attempt ?? self.settings.maxAttempts
            self.post.yield(.lost(job, attempt: attempt, stalled: stalled))
        }
    }

    private func retryOrFail(_ job: AnalysisJob, attempt: Int, stalled: Bool) async {
        guard let recordingID = UUID(uuidString: job.recordingID) else { return }
        if attempt >= self.settings.maxAttempts {
            self.logger.error("a worker died analysing this recording again; marking it failed", metadata: ["recording": "\(recordingID)"])
            let what = stalled ? "stopped making progress and was stopped" : "crashed"
            try? await self.repository.fail(
                recordingID: recordingID,
                error: "the worker analysing this recording \(what) (\(attempt) attempts)"
            )
        } else if let stored = try? await self.repository.find(recordingID: recordingID) {
            self.logger.warning("a worker died analysing this recording; trying again", metadata: ["recording": "\(recordingID)"])
            await self.start(stored)
        }
    }
}
