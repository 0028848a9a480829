import RequestParsing
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Protocol
import ServiceLifecycle

/// Every started session: creates them (the call and recording rows, the WAV file), finds them
/// by resume token, stores their transcript segments in batches, and finalises each one when
/// it ends (finished WAV, then the analysis pipeline, as for an upload).
///
/// Owned work: starts and finalisations are jobs run by this service's task group; one timer
/// task writes gathered segments every `segmentFlushInterval`, another sweeps the recordings
/// and feeds four times an `audioFlushInterval` for batches that old (sessions gone quiet: a
/// streaming session's batch leaves with the chunk that makes it that old, at its own moment).
/// On shutdown, every session still open is ended and finalised.
final class LiveSessions: Service, Sendable {
    struct Settings: Sendable {
        /// How long a session whose connection dropped waits for a resume; 0 ends it at once.
        var resumeWindow: TimeAmount = .seconds(30)
        /// Answers kept per session for re-sending after a resume: those to the last
        /// `retainedAudio` of audio (what a client lagging in its reads may not have seen when
        /// its connection dropped), and at least as many as a stream may have in flight
        /// (`--max-in-flight`), so every answer that arrives while detached is kept.
        var retainedAudio: TimeAmount = .seconds(10)
        var retainedAnswers = 64
        /// `--max-recording-minutes` in seconds: a session is stopped once it has streamed this
        /// much audio, and keeps exactly that much.
        var maxRecordingSeconds: Double?
        /// A recording's (and feed's) gathered data is written once this old at the latest: with
        /// the sweep's period, what a crash can lose.
        var audioFlushInterval: TimeAmount = .seconds(1)
        /// Segments gathered this long go to SQLite in one transaction (each flush touches
        /// about one page per live call, so fewer, larger flushes cost much less).
        var segmentFlushInterval: Duration = .seconds(1)
        /// Each chunk's text is a transcript segment (the mock engine). A real engine's chunk
        /// text is a partial hypothesis: its finals are the segments instead.
        var storesChunkTexts = true
        /// On shutdown, how long open sessions get to receive their last answers and finals.
        var shutdownGrace: Duration = .seconds(10)
    }

    typealias Job = @Sendable () async -> Void

    let settings: Settings
    private let streams: LiveStreams
    private let repository: any CallRepository
    private let files: RecordingFiles
    private let feedSpool: FeedSpool
    private let spares: SpareFiles
    private let analyses: any RecordingAnalysisQueue
    let logger: Logger
    /// Open sessions by the digest of their resume token.
    private let byToken = NIOLockedValueBox<[Data: LiveSession]>([:])
    /// The feeds of live calls, by call id (for `GET /calls/{id}/live`).
    private let feeds = NIOLockedValueBox<[UUID: TranscriptFeed]>([:])
    private let segments = NIOLockedValueBox<[TranscriptSegment]>([])
    /// The newest segment flush (each waits for the one before), and whether it has yet to
    /// take its batch: a finishing call joins such a flush instead of queueing one of its own.
    private let flushes = NIOLockedValueBox<(last: Task<Void, Never>?, waiting: Bool)>((nil, false))
    private let jobs: AsyncStream<Job>
    private let jobSink: AsyncStream<Job>.Continuation

    init(
        settings: Settings,
        streams: LiveStreams,
        repository: any CallRepository,
        files: RecordingFiles,
        feedSpool: FeedSpool,
        spares: SpareFiles,
        analyses: any RecordingAnalysisQueue,
        logger: Logger
    ) {
        self.settings = settings
        self.streams = streams
        self.repository = repository
        self.files = files
        self.feedSpool = feedSpool
        self.spares = spares
        self.analyses = analyses
        self.logger = logger
        (self.jobs, self.jobSink) = AsyncStream.makeStream(of: Job.self)
    }

    // MARK: start and resume

    /// Starts a session for a connection that sent a valid `start`. Completes on `eventLoop`;
    /// a recorded session first gets its rows and file (off the event loop).
    func start(
        _ request: SessionRequest.Start,
        clientID: UInt64,
        worker: WorkerSlot,
        connection: LiveStreams.Connection
    ) -> EventLoopFuture<Result<LiveSession, SessionRequest.Refusal>> {
        let promise = connection.eventLoop.makePromise(of: Result<LiveSession, SessionRequest.Refusal>.self)
        guard request.record else {
            promise.succeed(
                .success(
                    self.open(
                        clientID: clientID,
                        format: request.format,
                        recording: nil,
                        file: nil,
                        feed: nil,
                        worker: worker,
                        connection: connection
                    )
                )
            )
            return promise.futureResult
        }
        let queued = self.jobSink.yield {
            do {
                let (recording, file, feed) = try await self.createRecording(request)
                promise.succeed(
                    .success(
                        self.open(
                            clientID: clientID,
                            format: request.format,
                            recording: recording,
                            file: file,
                            feed: feed,
                            worker: worker,
                            connection: connection
                        )
                    )
                )
            } catch let refusal as SessionRequest.Refusal {
                promise.succeed(.failure(refusal))
            } catch {
                self.logger.error("cannot start a recorded session", metadata: ["error": "\(error)"])
                promise.succeed(.failure(.init(code: "internal_error", message: "the recording could not be started")))
            }
        }
        if case .terminated = queued {
            promise.succeed(.failure(.init(code: "shutting_down", message: "the server is shutting down")))
        }
        return promise.futureResult
    }

    private func createRecording(_ request: SessionRequest.Start) async throws -> (Recording, LiveRecordingFile, TranscriptFeed) {
        let now = Timestamp.now
        let id = UUID()
        let storedPath = self.files.relativePath(id: id, format: .wav)
        let path = self.files.absolutePath(storedPath)
        let format = request.format
        let maxAge = self.settings.audioFlushInterval
        // At a start storm (1,000 sessions within a second) creating the file was the start's
        // largest cost: it is a spare renamed, on a thread of its own at low priority, and the
        // sessions already streaming go first.
        let spares = self.spares
        let file = try await BackgroundThreads.sessionFiles.runIfActive {
            try LiveRecordingFile(path: path, format: format, maxBatchAge: maxAge, spares: spares)
        }
        if spares.claimRefill() {
            self.jobSink.yield { await spares.refill(on: BackgroundThreads.sessionFiles) }
        }
        let callID = request.callID ?? UUID()
        let recording = Recording(
            id: id,
            callID: callID,
            filename: "live-\(callID.uuidString.lowercased()).wav",
            storedPath: storedPath,
            format: .wav,
            sizeBytes: 0,
            sha256: "",
            origin: .live,
            attempts: 0,
            createdAt: now,
            updatedAt: now
        )
        let newCall =
            request.callID == nil
            ? Call(
                id: callID,
                caller: request.caller,
                receiver: request.receiver,
                startedAt: Timestamp(request.startedAt),
                status: .processing,
                isPrivate: request.isPrivate,
                createdAt: now,
                updatedAt: now,
                externalID: request.externalID
            ) : nil
        let stored: CallWithRecording
        do {
            stored = try await self.repository.beginLive(recording, newCall: newCall, joiningExternalID: request.joinsExternalID)
        } catch {
            self.files.remove(storedPath)
            switch error as? CallRepositoryError {
            case .conflict: throw SessionRequest.Refusal(code: "recording_already_exists", message: "this call already has a recording")
            case .notFound: throw SessionRequest.Refusal(code: "call_not_found", message: "no call with this id")
            case nil: throw error
            }
        }
        let feed = TranscriptFeed(spool: self.feedSpool, maxBatchAge: maxAge)
        return (stored.recording ?? recording, file, feed)
    }

    private func open(
        clientID: UInt64,
        format: StreamFormat,
        recording: Recording?,
        file: LiveRecordingFile?,
        feed: TranscriptFeed?,
        worker: WorkerSlot,
        connection: LiveStreams.Connection
    ) -> LiveSession {
        let session = LiveSession(
            clientID: clientID,
            format: format,
            recording: recording,
            file: file,
            feed: feed,
            worker: worker,
            connection: connection,
            owner: self
        )
        self.byToken.withLockedValue { $0[ResumeToken.key(session.token.digest)] = session }
        if let callID = session.callID, let feed { self.feeds.withLockedValue { $0[callID] = feed } }
        self.streams.route(session)
        file?.onFailure { [weak session] error in session?.recordingFailed(error) }
        return session
    }

    /// The feed of the live call `callID`, or nil when no session is recording it.
    func feed(forCall callID: UUID) -> TranscriptFeed? {
        self.feeds.withLockedValue { $0[callID] }
    }

    /// Finds the session a `resume` names and attaches it to `connection`, which from then on
    /// goes by the session's client id: its own (`retiring`) is unregistered.
    func resume(_ request: SessionRequest.Resume, connection: LiveStreams.Connection, retiring clientID: UInt64) -> Result<
        (LiveSession, [ByteBuffer], closeAfter: Bool), SessionRequest.Refusal
    > {
        let digest = ResumeToken.digest(of: request.token)
        guard let session = self.byToken.withLockedValue({ $0[ResumeToken.key(digest)] }), session.token.digest == digest else {
            return .failure(.init(code: "resume_failed", message: "no session to resume with this token (wrong, or its resume window ran out)"))
        }
        let resumed = session.resume(lastSeq: request.lastSeq, connection: connection)
        if case .success = resumed { self.streams.unregister(clientID) }
        return resumed.map { (session, $0.messages, $0.closeAfter) }
    }

    /// Sends messages to a session's connection after every answer already routed from the
    /// worker's loop: they are handed over from that loop, in order.
    func send(_ messages: [ByteBuffer], closeAfter: Bool, to connection: LiveStreams.Connection, behindAnswersFrom workerLoop: any EventLoop) {
        workerLoop.execute {
            self.streams.handOver(messages, closeAfter: closeAfter, to: connection)
        }
    }

    /// Whether a session that has not ended records `callID` (its call cannot be deleted).
    func isLive(callID: UUID) -> Bool {
        let sessions = self.byToken.withLockedValue { Array($0.values) }
        return sessions.contains { $0.callID == callID && !$0.hasEnded }
    }

    /// Sessions a connection carries, and sessions waiting for a resume (for `/metrics`).
    func counts() -> (live: Int, waitingResume: Int) {
        let sessions = self.byToken.withLockedValue { Array($0.values) }
        var counts = (live: 0, waitingResume: 0)
        for session in sessions {
            if session.isLive { counts.live += 1 } else if session.isWaitingForResume { counts.waitingResume += 1 }
        }
        return counts
    }

    // MARK: transcripts and the end of a session

    /// Gathers a segment for the next batched write.
    func store(_ segment: TranscriptSegment) {
        self.segments.withLockedValue { $0.append(segment) }
    }

    /// The session has ended: no more answers or finals will come (its worker has forgotten
    /// it). A recording is finished and queued for analysis.
    func finalise(_ session: LiveSession) {
        // A stopped session stays findable for the resume window, to send `stopped` again to
        // a client that lost it with its connection; any other resume of it is refused.
        let key = ResumeToken.key(session.token.digest)
        if self.settings.resumeWindow > .zero {
            session.worker.eventLoop.scheduleTask(in: self.settings.resumeWindow) {
                _ = self.byToken.withLockedValue { $0.removeValue(forKey: key) }
            }
        } else {
            _ = self.byToken.withLockedValue { $0.removeValue(forKey: key) }
        }
        self.streams.unroute(session.clientID)
        if let callID = session.callID { _ = self.feeds.withLockedValue { $0.removeValue(forKey: callID) } }
        guard let recording = session.recording, let file = session.file else { return }
        let queued = self.jobSink.yield {
            await self.finish(recording, file: file)
        }
        if case .terminated = queued {
            // Shutting down: the file is repaired and analysed at the next start.
            file.flush()
        }
    }

    private func finish(_ recording: Recording, file: LiveRecordingFile) async {
        await self.flushSegments()
        do {
            let (sizeBytes, sha256) = try await file.finish()
            // A full disk may make room again: retry for a while (then the next start repairs it).
            var attempt = 0
            while true {
                do {
                    try await self.repository.finishLive(recordingID: recording.id, sizeBytes: sizeBytes, sha256: sha256)
                    break
                } catch  where StorageFull.matches(error) && attempt < 150 {
                    attempt += 1
                    if attempt == 1 {
                        self.logger.error("cannot finish a live recording yet: storage full; retrying", metadata: ["recording": "\(recording.id)"])
                    }
                    try await Task.sleep(for: .seconds(2))
                    await self.flushSegments()
                }
            }
            var finished = recording
            finished.sizeBytes = sizeBytes
            finished.sha256 = sha256
            self.analyses.enqueue(finished)
        } catch is CancellationError {
            // Shutting down mid-retry: the next start repairs and analyses it.
        } catch  where StorageFull.matches(error) {
            self.logger.error("cannot finish a live recording: storage full; the next start finishes it", metadata: ["recording": "\(recording.id)"])
        } catch {
            self.logger.error("cannot finish a live recording", metadata: ["recording": "\(recording.id)", "error": "\(error)"])
            try? await self.repository.fail(recordingID: recording.id, error: "the live recording could not be written: \(error)")
        }
    }

    /// Stores the segments gathered so far, and returns once they and every earlier batch are
    /// stored: a finishing call's flush must not overtake the periodic one still writing its
    /// last segments (the call would be `ready` with a segment missing for a moment). Calls
    /// that end together share one flush (1,000 ending within a second wrote 1,000 small
    /// transactions).
    private func flushSegments() async {
        let flush = self.flushes.withLockedValue { flushes -> Task<Void, Never> in
            if flushes.waiting, let waiting = flushes.last { return waiting }
            let previous = flushes.last
            let flush = Task {
                await previous?.value
                await self.save(self.takeBatch())
            }
            flushes = (flush, true)
            return flush
        }
        await flush.value
    }

    /// The segments gathered so far, for the waiting flush (which from then on takes no more
    /// callers: a segment stored after this goes with the next one).
    private func takeBatch() -> [TranscriptSegment] {
        self.flushes.withLockedValue { flushes in
            flushes.waiting = false
            // Taken whole, the gathering array starting again from empty: emptied while the
            // batch shares its buffer, `removeAll(keepingCapacity:)` would allocate a second
            // one as large as the largest batch ever (21.6 MB at 1,000 sessions, heaptrack).
            return self.segments.withLockedValue { segments -> [TranscriptSegment] in
                defer { segments = [] }
                return segments
            }
        }
    }

    private func save(_ batch: [TranscriptSegment]) async {
        guard !batch.isEmpty else { return }
        do {
            try await self.repository.save(batch)
        } catch  where StorageFull.matches(error) && batch.count < 100_000 {
            // Kept for the next flush: the disk may have room again by then.
            self.segments.withLockedValue { $0.insert(contentsOf: batch, at: 0) }
            self.logger.error("cannot store transcript segments yet: storage full", metadata: ["count": "\(batch.count)"])
        } catch {
            self.logger.error("cannot store transcript segments", metadata: ["count": "\(batch.count)", "error": "\(error)"])
        }
    }

    // MARK: service

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            // Two loops: the sweep never waits for a segment batch (which yields the CPU).
            group.addTask { await self.sweepPeriodically() }
            group.addTask { await self.flushSegmentsPeriodically() }
            await withDiscardingTaskGroup { running in
                running.addTask {
                    try? await gracefulShutdown()
                    await self.endAll()
                    self.jobSink.finish()
                }
                for await job in self.jobs {
                    running.addTask { await job() }
                }
            }
            group.cancelAll()
        }
        await self.flushSegments()
    }

    /// Shutdown: every session still open ends now (drain has delivered what was owed), and
    /// gets a while for its last answers and finals (the workers stop after this service), so
    /// that its recording is finished and queued here rather than repaired at the next start.
    private func endAll() async {
        let open = self.byToken.withLockedValue { Array($0.values) }.filter { !$0.hasEnded }
        guard !open.isEmpty else { return }
        self.logger.info("ending open live sessions", metadata: ["count": "\(open.count)"])
        for session in open {
            session.expire()
        }
        let deadline = ContinuousClock.now + self.settings.shutdownGrace
        while open.contains(where: { !$0.hasEnded }), ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
    }

    private func sweepPeriodically() async {
        let sweep = Duration.nanoseconds(self.settings.audioFlushInterval.nanoseconds / 4)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: sweep)
            } catch {
                return
            }
            let now = NIODeadline.now()
            for session in self.byToken.withLockedValue({ Array($0.values) }) {
                session.file?.flushStale(at: now)
                session.feed?.flushStale(at: now)
            }
        }
    }

    private func flushSegmentsPeriodically() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.settings.segmentFlushInterval)
            } catch {
                return
            }
            await self.flushSegments()
        }
    }
}
