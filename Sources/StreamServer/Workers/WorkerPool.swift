import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Protocol
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `--workers` audio-worker processes: spawns them, shards streams over them by
/// `client_id`, restarts any that die (replaying what they owed), and stops them on shutdown.
final class WorkerPool: Service, Sendable {
    struct Configuration: Sendable {
        var count: Int
        var executablePath: String
        var arguments: [String] = []
        var maxFrameLength: Int = PipeFrameDecoder.defaultMaxFrameLength
        /// A chunk that has been at the head of the queue when this many workers died is
        /// answered with an error instead of being tried again.
        var maxCrashesPerChunk = 2
        var stopTimeout: Duration = .seconds(5)
        /// A worker whose analyses answer nothing for this long is killed (and replaced):
        /// a file that hangs a decoder must not hold a recording `processing` forever.
        var analysisTimeout: TimeAmount = .seconds(600)
        /// A worker that leaves a heartbeat unanswered this long is hung: killed and replaced.
        var heartbeatTimeout: TimeAmount = .seconds(10)
        /// Chunks are written to a worker at most this often (`WorkerSlot`'s pacing).
        var writeInterval: TimeAmount = .zero
    }

    let configuration: Configuration
    let slots: [WorkerSlot]
    /// Workers whose pipes live on each event loop.
    private let slotsByLoop: [ObjectIdentifier: [WorkerSlot]]
    private let sink: any WorkerResultSink
    private let metrics: ServerMetrics
    private let logger: Logger
    private let isStopping = NIOLockedValueBox(false)
    /// Where analysis answers go; set once at wiring time (the analyses need the pool too).
    private let analysisSink = NIOLockedValueBox<(any AnalysisResultSink)?>(nil)
    private let nextAnalysisSlot = NIOLockedValueBox(0)
    private let watchdogs = NIOLockedValueBox<[RepeatedTask]>([])

    init(configuration: Configuration, eventLoopGroup: any EventLoopGroup, sink: any WorkerResultSink, metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        let slots = (0..<configuration.count).map {
            WorkerSlot(index: $0, eventLoop: eventLoopGroup.next(), writeInterval: configuration.writeInterval)
        }
        self.slots = slots
        self.slotsByLoop = Dictionary(grouping: slots) { ObjectIdentifier($0.eventLoop) }
        self.sink = sink
        self.metrics = metrics
        self.logger = logger
    }

    /// The worker that owns a stream: all of its chunks go to one process, in order. Chosen
    /// by `client_id` among the workers whose pipes share the stream's event loop, when there
    /// are any (with as many workers as loops, a chunk and its result never change threads);
    /// otherwise among all workers. A stream never changes loops, so the choice is stable.
    func slot(for clientID: UInt64, on eventLoop: any EventLoop) -> WorkerSlot {
        let candidates = self.slotsByLoop[ObjectIdentifier(eventLoop)] ?? self.slots
        return candidates[Int(clientID % UInt64(candidates.count))]
    }

    func setAnalysisSink(_ sink: any AnalysisResultSink) {
        self.analysisSink.withLockedValue { $0 = sink }
    }

    /// Gives an analysis job to a worker: the one with the fewest jobs, ties in turn.
    func submit(_ job: AnalysisJob) {
        let start = self.nextAnalysisSlot.withLockedValue { value -> Int in
            defer { value = (value + 1) % self.slots.count }
            return value
        }
        let ordered = (0..<self.slots.count).map { self.slots[(start + $0) % self.slots.count] }
        let slot = ordered.min { $0.jobCount < $1.jobCount } ?? self.slots[0]
        slot.submit(job)
    }

    func run() async throws {
        for slot in self.slots {
            try await self.start(slot).get()
        }
        self.startWatchdogs()
        try? await gracefulShutdown()
        self.watchdogs.withLockedValue { tasks in
            for task in tasks { task.cancel() }
            tasks.removeAll()
        }
        await self.stopAll()
    }

    /// Checks each worker a few times per timeout, on its own loop: for an unanswered
    /// heartbeat (hung), and for a stalled analysis.
    private func startWatchdogs() {
        let timeout = self.configuration.analysisTimeout
        let heartbeatTimeout = self.configuration.heartbeatTimeout
        let shortest = min(timeout, heartbeatTimeout)
        let period = TimeAmount.nanoseconds(max(min(shortest.nanoseconds / 4, 1_000_000_000), 1_000_000))
        let tasks = self.slots.map { slot in
            slot.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                if let process = slot.heartbeatCheck(timeout: heartbeatTimeout) {
                    self.logger.error(
                        "a worker left a heartbeat unanswered; killing it as hung",
                        metadata: ["worker": "\(slot.index)", "pid": "\(process.pid)", "timeout_ms": "\(heartbeatTimeout.nanoseconds / 1_000_000)"]
                    )
                    process.kill(SIGKILL)
                    return
                }
                guard let process = slot.stalledProcess(timeout: timeout) else { return }
                self.logger.error(
                    "an analysis made no progress in time; killing its worker",
                    metadata: ["worker": "\(slot.index)", "pid": "\(process.pid)", "timeout_s": "\(timeout.nanoseconds / 1_000_000_000)"]
                )
                process.kill(SIGKILL)
            }
        }
        self.watchdogs.withLockedValue { $0 = tasks }
    }

    /// Spawns a process for `slot` and wires its pipes into a NIO channel on the slot's loop.
    private func start(_ slot: WorkerSlot) -> EventLoopFuture<Void> {
        let process: WorkerProcess
        do {
            process = try WorkerProcess.spawn(path: self.configuration.executablePath, arguments: self.configuration.arguments)
        } catch {
            self.logger.error("cannot start worker", metadata: ["worker": "\(slot.index)", "error": "\(error)"])
            self.metrics.workerRestarted(.startFailed)
            self.scheduleRestart(slot, after: .seconds(1))
            return slot.eventLoop.makeSucceededVoidFuture()
        }
        let logger = {
            var logger = self.logger
            logger[metadataKey: "worker"] = "\(slot.index)"
            logger[metadataKey: "pid"] = "\(process.pid)"
            return logger
        }()
        let sink = self.sink
        let metrics = self.metrics
        let maxFrameLength = self.configuration.maxFrameLength
        let generationBox = NIOLockedValueBox(0)
        return NIOPipeBootstrap(group: slot.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let generation = slot.starting(process: process, channel: channel)
                    generationBox.withLockedValue { $0 = generation }
                    let handler = WorkerPipeHandler(
                        slot: slot,
                        generation: generation,
                        sink: sink,
                        metrics: metrics,
                        analysisSink: self.analysisSink.withLockedValue { $0 },
                        maxFrameLength: maxFrameLength,
                        logger: logger
                    ) { [weak self] in
                        self?.workerExited(slot, generation: generation)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .takingOwnershipOfDescriptors(input: process.stdoutRead, output: process.stdinWrite)
            .map { _ in logger.info("worker started") }
            .flatMapErrorThrowing { error in
                logger.error("cannot attach worker pipes", metadata: ["error": "\(error)"])
                process.kill(SIGKILL)
                self.reap(process, on: slot.eventLoop, attempts: 100)
                self.scheduleRestart(slot, after: .seconds(1))
            }
    }

    /// Called on the slot's loop when the worker's stdout closes: it exited or was killed.
    private func workerExited(_ slot: WorkerSlot, generation: Int) {
        guard
            let (process, poisoned, jobs, stalled, hung, wasReady) = slot.died(
                generation: generation,
                maxCrashes: self.configuration.maxCrashesPerChunk
            )
        else {
            return
        }
        if !self.isStopping.withLockedValue({ $0 }) {
            self.metrics.workerRestarted(stalled || hung ? .hang : wasReady ? .crash : .startFailed)
        }
        if !jobs.isEmpty {
            self.analysisSink.withLockedValue { $0 }?.lost(jobs, stalled: stalled)
        }
        if let process {
            self.reap(process, on: slot.eventLoop, attempts: 40)
        }
        if let poisoned {
            self.logger.error(
                "chunk crashed or hung workers repeatedly, answering it with an error",
                metadata: ["client_id": "\(poisoned.clientID)", "seq": "\(poisoned.seq)"]
            )
            self.sink.deliver([
                WorkerResult(
                    clientID: poisoned.clientID,
                    seq: poisoned.seq,
                    outcome: .failed(code: "worker_crashed", message: "the worker processing this chunk crashed or hung, twice")
                )
            ])
        }
        guard !self.isStopping.withLockedValue({ $0 }) else { return }
        self.logger.warning(
            "worker died, restarting it",
            metadata: ["worker": "\(slot.index)", "pid": "\(process?.pid ?? 0)", "unanswered": "\(slot.pendingCount)"]
        )
        // Back off when a worker dies again and again without answering anything.
        let delay: Duration = slot.consecutiveCrashes > 3 ? .seconds(1) : .milliseconds(20)
        self.scheduleRestart(slot, after: delay)
    }

    private func scheduleRestart(_ slot: WorkerSlot, after delay: Duration) {
        slot.eventLoop.scheduleTask(in: .init(delay)) {
            guard !self.isStopping.withLockedValue({ $0 }) else { return }
            _ = self.start(slot)
        }
    }

    /// Waits for an exited child without blocking the event loop; kills it if it lingers.
    private func reap(_ process: WorkerProcess, on loop: any EventLoop, attempts: Int) {
        if process.reapIfExited() != nil { return }
        if attempts == 0 {
            process.kill(SIGKILL)
        }
        loop.scheduleTask(in: .milliseconds(50)) {
            self.reap(process, on: loop, attempts: max(attempts - 1, 0))
        }
    }

    /// Sends every worker the shutdown frame (after what it already has), waits for it to
    /// exit, and kills it after `stopTimeout`.
    func stopAll() async {
        self.isStopping.withLockedValue { $0 = true }
        let stopping = self.slots.map { $0.stop() }
        let deadline = ContinuousClock.now + self.configuration.stopTimeout
        for (channel, process) in stopping {
            guard let process else { continue }
            while process.reapIfExited() == nil {
                if ContinuousClock.now >= deadline {
                    self.logger.warning("worker did not stop in time, killing it", metadata: ["pid": "\(process.pid)"])
                    process.kill(SIGKILL)
                    while process.reapIfExited() == nil {
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    break
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            try? await channel?.close()
        }
        self.logger.info("workers stopped")
    }
}
