import Logging
import NIOCore
import Protocol

/// Reads a worker's stdout: decodes frames, matches answers to the slot's pending chunks, and
/// hands each read's results to the sink in one batch.
final class WorkerPipeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let slot: WorkerSlot
    private let generation: Int
    private let sink: any WorkerResultSink
    private let metrics: ServerMetrics
    private let analysisSink: (any AnalysisResultSink)?
    private let onClose: @Sendable () -> Void
    private let logger: Logger
    private var decoder: PipeFrameDecoder
    private var results: [WorkerResult] = []

    init(
        slot: WorkerSlot,
        generation: Int,
        sink: any WorkerResultSink,
        metrics: ServerMetrics,
        analysisSink: (any AnalysisResultSink)?,
        maxFrameLength: Int,
        logger: Logger,
        onClose: @escaping @Sendable () -> Void
    ) {
        self.slot = slot
        self.generation = generation
        self.sink = sink
        self.metrics = metrics
        self.analysisSink = analysisSink
        self.decoder = PipeFrameDecoder(maxFrameLength: maxFrameLength)
        self.logger = logger
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.decoder.append(Self.unwrapInboundIn(data))
        do {
            while let frame = try self.decoder.next() {
                switch frame {
                case .ready(let engine):
                    let replayed = self.slot.ready(generation: self.generation)
                    self.logger.info("worker ready", metadata: ["engine": "\(engine)", "replayed_chunks": "\(replayed)"])
                case .result(let clientID, let seq, let text):
                    try self.answer(clientID: clientID, seq: seq, .transcript(text))
                case .decoded(let clientID, let seq, let text, let pcm):
                    try self.answer(clientID: clientID, seq: seq, .decoded(text: text, pcm: pcm))
                case .error(let clientID, let seq, let code, let message):
                    try self.answer(clientID: clientID, seq: seq, .failed(code: code, message: message))
                case .analysis(let jobID, let result):
                    self.analysisSink?.finished(try self.job(jobID), outcome: .success(result))
                case .analysisFailed(let jobID, let message):
                    self.analysisSink?.finished(try self.job(jobID), outcome: .failure(.init(message: message)))
                case .final(let final):
                    // In line with the answers around it: the session orders them.
                    self.results.append(WorkerResult(clientID: final.clientID, seq: final.seqTo, outcome: .final(final)))
                case .sessionEnded(let clientID):
                    self.slot.sessionEnded(clientID: clientID)
                    self.results.append(WorkerResult(clientID: clientID, seq: 0, outcome: .sessionEnded))
                case .heartbeat(let id):
                    self.slot.heartbeatAnswered(id: id)
                case .stats(let stats):
                    self.metrics.workerReported(stats, worker: self.slot.index, generation: self.generation)
                case .chunk, .shutdown, .analyse, .sessionChunk, .endSession:
                    throw WorkerProtocolError.unexpectedFrame(frame.kind)
                }
            }
        } catch {
            // A worker that breaks the protocol cannot be trusted with more work: treat it as dead.
            self.logger.error("worker broke the pipe protocol, restarting it", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
        if !self.results.isEmpty {
            self.sink.deliver(self.results)
            self.results.removeAll(keepingCapacity: true)
        }
    }

    private func answer(clientID: UInt64, seq: UInt64, _ outcome: WorkerResult.Outcome) throws {
        guard let chunk = self.slot.answered(clientID: clientID, seq: seq) else {
            throw WorkerProtocolError.unexpectedAnswer(clientID: clientID, seq: seq)
        }
        var outcome = outcome
        // A pcm_s16le chunk the worker accepted is its own audio: the worker checks it and
        // sends no copy back (half the pipe traffic of a PCM session).
        if case .decoded(let text, _) = outcome, chunk.format?.codec == .pcmS16LE {
            outcome = .decoded(text: text, pcm: chunk.audio)
        }
        self.results.append(WorkerResult(clientID: clientID, seq: seq, outcome: outcome))
    }

    private func job(_ jobID: UInt64) throws -> AnalysisJob {
        guard let job = self.slot.answered(jobID: jobID) else { throw WorkerProtocolError.unexpectedAnalysis(jobID: jobID) }
        return job
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.warning("worker pipe error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

enum WorkerProtocolError: Error {
    case unexpectedFrame(PipeFrame.Kind)
    case unexpectedAnswer(clientID: UInt64, seq: UInt64)
    case unexpectedAnalysis(jobID: UInt64)
}
