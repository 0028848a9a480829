import Logging
import NIOConcurrencyHelpers
import NIOCore
import Protocol

/// One worker position in the pool: the current process behind it (replaced when it dies),
/// the chunks it owes answers for, and the batch of frames waiting to be written to it.
///
/// Invariant: `pending` holds every chunk submitted to this slot and not yet answered, in
/// submission order. A worker answers in the order it reads, so each answer matches the head
/// of `pending`; when a worker dies, everything still in `pending` is written again to its
/// replacement, so no acked chunk loses its answer.
///
/// Blame: a worker writes the answers of one read in one batch, so when it dies or hangs the
/// chunk at the head of `pending` may have been answered in a batch never written. So after a
/// death the replacement is first given the head chunk alone (probing); only its answer lets
/// the rest follow. A chunk is poison only if it took down `maxCrashes` workers while at the
/// head, and from the second time on it was alone.
///
/// Pacing: chunks are written at most once per `writeInterval`. Under load that gathers
/// several into one pipe write, so the worker wakes once for them, reads them in one go and
/// answers them in one batch; wake-ups, not bytes, are most of what a chunk costs on both
/// sides of the pipe. A chunk that comes after a quiet `writeInterval` is written at once.
final class WorkerSlot: Sendable {
    struct PendingChunk {
        let clientID: UInt64
        let seq: UInt64
        let audio: ByteBuffer
        /// A started session's format (the worker decodes the chunk); nil for a plain stream.
        let format: StreamFormat?
        /// How many workers died while this chunk was at the head of the queue.
        var crashes = 0

        func write(to buffer: inout ByteBuffer) {
            var audio = self.audio
            if let format = self.format {
                buffer.writeSessionChunkFrame(clientID: self.clientID, seq: self.seq, format: format, audio: &audio)
            } else {
                buffer.writeChunkFrame(clientID: self.clientID, seq: self.seq, audio: &audio)
            }
        }
    }

    enum Phase: Sendable, Equatable {
        case starting
        case ready
        case down
        case stopped
    }

    private struct State {
        var phase: Phase = .down
        var generation = 0
        var channel: (any Channel)?
        var process: WorkerProcess?
        var outbox = ByteBuffer()
        var flushScheduled = false
        /// When the outbox was last written: the next chunks wait for `writeInterval` after it.
        var lastFlush = NIODeadline.uptimeNanoseconds(0)
        var pending = CircularBuffer<PendingChunk>()
        var restarts = 0
        /// Deaths since this slot's worker last answered a chunk: drives the restart backoff.
        var consecutiveCrashes = 0
        /// Analysis jobs given to this slot and not yet answered, by job id. Written once the
        /// worker is ready; if a ready worker dies with them they are handed back, not
        /// replayed: the caller decides whether a job that was in a crash is retried.
        var jobs: [UInt64: AnalysisJob] = [:]
        /// When the ready worker last began or finished an analysis; the watchdog's clock.
        var lastJobProgress = NIODeadline.now()
        /// The watchdog killed this generation's process for a stalled analysis.
        var killedAsStalled = false
        /// The heartbeat the worker has not answered yet: its id and when it was queued.
        var heartbeat: (id: UInt64, sentAt: NIODeadline)?
        var lastHeartbeatID: UInt64 = 0
        /// The watchdog killed this generation's process for an unanswered heartbeat.
        var killedAsHung = false
        /// The replacement has only been given the head of `pending`; the rest (and any
        /// `endSession` frames, in `deferred`) wait for its answer.
        var probing = false
        var deferred = ByteBuffer()
        /// Sessions told `endSession` and not yet answered with `sessionEnded`, in order:
        /// written again to a replacement (after the chunks it is replayed), so a session
        /// whose worker died still ends.
        var ending: [UInt64] = []
    }

    let index: Int
    let eventLoop: any EventLoop
    /// Chunks are written at most this often (see Pacing above); zero writes each event-loop
    /// tick's chunks at the end of that tick.
    let writeInterval: TimeAmount
    private let state = NIOLockedValueBox(State())

    init(index: Int, eventLoop: any EventLoop, writeInterval: TimeAmount = .zero) {
        self.index = index
        self.eventLoop = eventLoop
        self.writeInterval = writeInterval
    }

    var phase: Phase { self.state.withLockedValue { $0.phase } }
    var generation: Int { self.state.withLockedValue { $0.generation } }
    var pendingCount: Int { self.state.withLockedValue { $0.pending.count } }
    var restarts: Int { self.state.withLockedValue { $0.restarts } }
    var consecutiveCrashes: Int { self.state.withLockedValue { $0.consecutiveCrashes } }

    /// Queues a chunk for this worker. Thread-safe; frames are batched and written on the
    /// worker's event loop, so many chunks from many connections share one `write`.
    func submit(clientID: UInt64, seq: UInt64, audio: ByteBuffer, format: StreamFormat? = nil) {
        let due = self.state.withLockedValue { state -> NIODeadline? in
            let chunk = PendingChunk(clientID: clientID, seq: seq, audio: audio, format: format)
            state.pending.append(chunk)
            guard state.phase == .ready, !state.probing else { return nil }
            chunk.write(to: &state.outbox)
            guard !state.flushScheduled else { return nil }
            state.flushScheduled = true
            return state.lastFlush + self.writeInterval
        }
        guard let due else { return }
        if due > self.eventLoop.now {
            self.eventLoop.scheduleTask(deadline: due) { self.flushOutbox() }
        } else {
            self.eventLoop.execute { self.flushOutbox() }
        }
    }

    /// Tells the worker a session's audio is over: it sends the session's last finals, then
    /// `sessionEnded`, and drops its state. Written again to a replacement until answered (a
    /// replacement only has the state of the chunks it was replayed).
    func endSession(clientID: UInt64) {
        let schedule = self.state.withLockedValue { state -> Bool in
            state.ending.append(clientID)
            guard state.phase == .ready else { return false }
            // While probing, the session's own chunks may not have been written yet.
            guard !state.probing else {
                state.deferred.writePipeFrame(.endSession(clientID: clientID))
                return false
            }
            state.outbox.writePipeFrame(.endSession(clientID: clientID))
            guard !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if schedule {
            self.eventLoop.execute { self.flushOutbox() }
        }
    }

    /// The worker answered `endSession` for `clientID`.
    func sessionEnded(clientID: UInt64) {
        self.state.withLockedValue { state in
            if let index = state.ending.firstIndex(of: clientID) { state.ending.remove(at: index) }
        }
    }

    /// Queues an analysis job; it is written now if the worker is up, else when it is.
    func submit(_ job: AnalysisJob) {
        let schedule = self.state.withLockedValue { state -> Bool in
            if state.jobs.isEmpty { state.lastJobProgress = .now() }
            state.jobs[job.jobID] = job
            guard state.phase == .ready else { return false }
            state.outbox.writePipeFrame(.analyse(job))
            guard !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if schedule {
            self.eventLoop.execute { self.flushOutbox() }
        }
    }

    /// The job the worker answered, or nil if it was never given one with that id.
    func answered(jobID: UInt64) -> AnalysisJob? {
        self.state.withLockedValue { state in
            state.lastJobProgress = .now()
            return state.jobs.removeValue(forKey: jobID)
        }
    }

    /// The watchdog's check: if the ready worker has had analyses outstanding and answered
    /// none for `timeout`, marks it stalled and returns its process (to be killed). A worker
    /// runs its analyses one after another, so the clock restarts with every answer: a long
    /// queue of healthy jobs never trips it.
    func stalledProcess(timeout: TimeAmount) -> WorkerProcess? {
        self.state.withLockedValue { state in
            guard state.phase == .ready, !state.jobs.isEmpty, !state.killedAsStalled,
                .now() - state.lastJobProgress > timeout
            else { return nil }
            state.killedAsStalled = true
            return state.process
        }
    }

    var jobCount: Int { self.state.withLockedValue { $0.jobs.count } }

    /// The watchdog's liveness check: queues a heartbeat if none is outstanding; if the one
    /// outstanding has gone unanswered for `timeout` (the worker's main loop is stuck, on a
    /// chunk or otherwise), marks the worker hung and returns its process (to be killed).
    func heartbeatCheck(timeout: TimeAmount) -> WorkerProcess? {
        let (schedule, hung) = self.state.withLockedValue { state -> (Bool, WorkerProcess?) in
            guard state.phase == .ready, !state.killedAsHung, !state.killedAsStalled else { return (false, nil) }
            if let heartbeat = state.heartbeat {
                guard .now() - heartbeat.sentAt > timeout else { return (false, nil) }
                state.killedAsHung = true
                return (false, state.process)
            }
            state.lastHeartbeatID += 1
            state.heartbeat = (state.lastHeartbeatID, .now())
            state.outbox.writePipeFrame(.heartbeat(id: state.lastHeartbeatID))
            guard !state.flushScheduled else { return (false, nil) }
            state.flushScheduled = true
            return (true, nil)
        }
        if schedule { self.flushOutbox() }
        return hung
    }

    /// The worker answered heartbeat `id`.
    func heartbeatAnswered(id: UInt64) {
        self.state.withLockedValue { state in
            if state.heartbeat?.id == id { state.heartbeat = nil }
        }
    }

    /// Writes the batched frames. Runs on `eventLoop`.
    func flushOutbox() {
        let (channel, batch) = self.state.withLockedValue { state -> ((any Channel)?, ByteBuffer) in
            state.flushScheduled = false
            state.lastFlush = self.eventLoop.now
            let batch = state.outbox
            state.outbox = ByteBuffer()
            return (state.channel, batch)
        }
        guard let channel, batch.readableBytes > 0 else { return }
        channel.writeAndFlush(batch, promise: nil)
    }

    /// Removes the answered chunk from `pending` and returns it; nil if the answer does not
    /// match the oldest unanswered chunk (a broken worker).
    func answered(clientID: UInt64, seq: UInt64) -> PendingChunk? {
        let (head, schedule) = self.state.withLockedValue { state -> (PendingChunk?, Bool) in
            guard let head = state.pending.first, head.clientID == clientID, head.seq == seq else { return (nil, false) }
            state.pending.removeFirst()
            state.consecutiveCrashes = 0
            guard state.probing else { return (head, false) }
            // The probe was answered: the replacement is sound, give it the rest.
            state.probing = false
            for chunk in state.pending {
                chunk.write(to: &state.outbox)
            }
            state.outbox.writeImmutableBuffer(state.deferred)
            state.deferred.clear()
            guard state.outbox.readableBytes > 0, !state.flushScheduled else { return (head, false) }
            state.flushScheduled = true
            return (head, true)
        }
        if schedule { self.eventLoop.execute { self.flushOutbox() } }
        return head
    }

    /// A new process is starting behind this slot.
    func starting(process: WorkerProcess, channel: any Channel) -> Int {
        self.state.withLockedValue { state in
            state.generation += 1
            state.killedAsStalled = false
            state.killedAsHung = false
            state.heartbeat = nil
            state.phase = .starting
            state.process = process
            state.channel = channel
            return state.generation
        }
    }

    /// The process announced itself: write it everything still owed (replay), then go live.
    /// Returns how many chunks were replayed.
    @discardableResult
    func ready(generation: Int) -> Int {
        let (schedule, replayed) = self.state.withLockedValue { state -> (Bool, Int) in
            guard state.generation == generation, state.phase == .starting else { return (false, 0) }
            state.phase = .ready
            state.lastJobProgress = .now()
            state.outbox.clear()
            state.deferred.clear()
            // After a death with chunks owed, the head goes alone first (see Blame above).
            state.probing = state.pending.first.map { $0.crashes > 0 } ?? false
            for chunk in state.probing ? Array(state.pending.prefix(1)) : Array(state.pending) {
                chunk.write(to: &state.outbox)
            }
            // Behind the replayed chunks: an ended session sent all of its chunks before.
            for clientID in state.ending {
                if state.probing {
                    state.deferred.writePipeFrame(.endSession(clientID: clientID))
                } else {
                    state.outbox.writePipeFrame(.endSession(clientID: clientID))
                }
            }
            for job in state.jobs.values.sorted(by: { $0.jobID < $1.jobID }) {
                state.outbox.writePipeFrame(.analyse(job))
            }
            guard state.outbox.readableBytes > 0, !state.flushScheduled else { return (false, state.pending.count) }
            state.flushScheduled = true
            return (true, state.pending.count)
        }
        if schedule {
            self.eventLoop.execute { self.flushOutbox() }
        }
        return replayed
    }

    /// The process behind `generation` is gone. Returns the process to reap, the chunk that
    /// was at the head of the queue if it has now crashed or hung `maxCrashes` workers (it is
    /// dropped so that one poisonous chunk cannot take workers down forever), and the analysis
    /// jobs the process had (handed back, not replayed), whether the watchdog killed it for a
    /// stalled analysis or for an unanswered heartbeat, and whether it had announced itself (a
    /// process that dies before that failed to start).
    func died(generation: Int, maxCrashes: Int) -> (
        process: WorkerProcess?, poisoned: PendingChunk?, jobs: [AnalysisJob], stalled: Bool, hung: Bool, wasReady: Bool
    )? {
        self.state.withLockedValue { state in
            guard state.generation == generation, state.phase != .down, state.phase != .stopped else { return nil }
            // A worker that died before announcing itself was never written a chunk or a job:
            // nothing it owed counts as a crash, and its jobs wait for the replacement.
            let wasGivenWork = state.phase == .ready
            state.phase = .down
            state.channel = nil
            state.outbox.clear()
            state.restarts += 1
            state.consecutiveCrashes += 1
            let process = state.process
            state.process = nil
            guard wasGivenWork else { return (process, nil, [], false, false, false) }
            var poisoned: PendingChunk?
            if !state.pending.isEmpty {
                state.pending[state.pending.startIndex].crashes += 1
                if state.pending.first!.crashes >= maxCrashes {
                    poisoned = state.pending.removeFirst()
                }
            }
            let jobs = state.jobs.values.sorted { $0.jobID < $1.jobID }
            state.jobs.removeAll()
            return (process, poisoned, jobs, state.killedAsStalled, state.killedAsHung, true)
        }
    }

    /// Shutdown: no restarts from now on. Queues the shutdown frame behind any batched frames.
    func stop() -> (channel: (any Channel)?, process: WorkerProcess?) {
        let result = self.state.withLockedValue { state -> ((any Channel)?, WorkerProcess?) in
            let wasReady = state.phase == .ready
            state.phase = .stopped
            if wasReady {
                state.outbox.writePipeFrame(.shutdown)
            }
            return (state.channel, state.process)
        }
        self.eventLoop.execute { self.flushOutbox() }
        return result
    }
}
