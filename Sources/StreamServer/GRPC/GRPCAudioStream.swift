import CallStreamGRPC
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Protocol
import RequestParsing

/// One `StreamAudio` call: the live-session protocol of `/api/audio/ws` over gRPC. Like
/// `AudioStreamHandler` it lives on one event loop and carries a `LiveSession`; requests come
/// in from the RPC's task (each handled on the loop, a chunk only once the session has room
/// for it: that is the backpressure), answers go out through `output` as protobuf.
///
/// Sessions only: the first message is `start` or `resume` (audio before either is refused
/// with `not_started`). When the RPC ends without `stop`, the session waits out its resume
/// window as for a dropped WebSocket.
final class GRPCAudioStream: LiveConnectionHandler, @unchecked Sendable {
    // @unchecked: every member is used on `eventLoop` only (the RPC's task hops there).
    typealias Response = Callstream_V1_StreamAudioResponse

    let eventLoop: any EventLoop
    private let streams: LiveStreams
    private let sessions: LiveSessions
    private let output: AsyncStream<Response>.Continuation
    private var logger: Logger
    private var clientID: UInt64 = 0
    private var connection: LiveStreams.Connection?
    private var worker: WorkerSlot?
    private var session: LiveSession?
    private var starting = false
    private var stopping = false
    private var finished = false
    /// A chunk waiting for room in the session.
    private var roomWaiter: EventLoopPromise<Void>?

    /// Makes and registers the stream; call on `eventLoop`.
    init(
        eventLoop: any EventLoop,
        streams: LiveStreams,
        sessions: LiveSessions,
        workers: WorkerPool,
        output: AsyncStream<Response>.Continuation,
        logger: Logger
    ) {
        self.eventLoop = eventLoop
        self.streams = streams
        self.sessions = sessions
        self.output = output
        self.logger = logger
        (self.clientID, self.connection) = streams.register(self, on: eventLoop)
        self.worker = workers.slot(for: self.clientID, on: eventLoop)
    }

    // MARK: requests

    /// One request, handled on the loop; completes when the next may be taken.
    func handle(_ request: Callstream_V1_StreamAudioRequest) -> EventLoopFuture<Void> {
        self.eventLoop.preconditionInEventLoop()
        guard !self.finished else { return self.eventLoop.makeSucceededVoidFuture() }
        switch request.message {
        case .start(let start): return self.start(start)
        case .audio(let audio): return self.submit(audio)
        case .stop: self.stop()
        case .resume(let resume): self.resume(resume)
        case nil: self.sendError("invalid_message", "a request must carry start, audio, stop or resume")
        }
        return self.eventLoop.makeSucceededVoidFuture()
    }

    private func start(_ start: Callstream_V1_StartSession) -> EventLoopFuture<Void> {
        guard self.session == nil, !self.starting else {
            self.sendError("already_started", "this stream carries a session already")
            return self.eventLoop.makeSucceededVoidFuture()
        }
        // The same checks as the WebSocket's start message: its fields, from the protobuf.
        var fields: [String: JSONValue] = [
            "codec": .string(start.codec), "sample_rate": .number(Double(start.sampleRate)), "channels": .number(Double(start.channels)),
            "private": .bool(start.private),
        ]
        for (name, value) in [
            ("caller", start.caller), ("receiver", start.receiver), ("started_at", start.startedAt), ("external_id", start.externalID),
        ]
        where !value.isEmpty {
            fields[name] = .string(value)
        }
        if !start.callID.isEmpty {
            fields["call_id"] = .string(start.callID)
            fields["private"] = nil
        }
        if start.hasRecord { fields["record"] = .bool(start.record) }
        let request: SessionRequest.Start
        do {
            request = try SessionRequest.start(fields)
        } catch {
            self.sendError(error.code, error.message)
            return self.eventLoop.makeSucceededVoidFuture()
        }
        guard let worker = self.worker, let connection = self.connection else { return self.eventLoop.makeSucceededVoidFuture() }
        self.starting = true
        return self.sessions.start(request, clientID: self.clientID, worker: worker, connection: connection).map { result in
            self.starting = false
            switch result {
            case .success(let session):
                guard !self.finished else { return session.detach(ObjectIdentifier(self)) }
                self.session = session
                self.logger[metadataKey: "call_id"] = session.callIDText.map { .string($0) }
                self.logger.info("grpc session started", metadata: ["codec": "\(session.format.codec.name)"])
                var started = Callstream_V1_Started()
                started.clientID = self.clientID
                started.callID = session.callIDText ?? ""
                started.resumeToken = session.token.text
                started.maxChunkBytes = Int64(self.streams.limits.maxChunkBytes)
                self.send(.with { $0.started = started })
            case .failure(let refusal):
                self.sendError(refusal.code, refusal.message)
            }
        }
    }

    private func submit(_ audio: Data) -> EventLoopFuture<Void> {
        guard let session = self.session else {
            self.sendError("not_started", "send start (or resume) before audio")
            return self.eventLoop.makeSucceededVoidFuture()
        }
        guard audio.count <= self.streams.limits.maxChunkBytes else {
            self.sendError("chunk_too_large", "a chunk is at most \(self.streams.limits.maxChunkBytes) bytes")
            return self.eventLoop.makeSucceededVoidFuture()
        }
        guard !self.stopping, let seq = session.submit(ByteBuffer(bytes: audio), receivedAt: .now()) else {
            self.stopping = true
            self.sendError("session_stopping", "no audio after stop: the session is finishing")
            return self.eventLoop.makeSucceededVoidFuture()
        }
        self.streams.inFlight.wrappingIncrement(ordering: .relaxed)
        var ack = Callstream_V1_Ack()
        ack.clientID = self.clientID
        ack.seq = seq
        ack.chunkSize = Int64(audio.count)
        self.send(.with { $0.ack = ack })
        return self.waitForRoom()
    }

    /// Completes once the session's chunks in flight are under the stream limits.
    private func waitForRoom() -> EventLoopFuture<Void> {
        guard let session = self.session, !self.hasRoom(session) else { return self.eventLoop.makeSucceededVoidFuture() }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.roomWaiter = promise
        return promise.futureResult
    }

    private func hasRoom(_ session: LiveSession) -> Bool {
        self.streams.limits.hasRoom(after: session.inFlight)
    }

    private func stop() {
        guard let session = self.session else { return self.sendError("not_started", "stop ends a started session: send start first") }
        guard !self.stopping else { return }
        self.stopping = true
        session.stop(from: ObjectIdentifier(self))
    }

    private func resume(_ resume: Callstream_V1_ResumeSession) {
        guard self.session == nil, !self.starting, let connection = self.connection else {
            return self.sendError("resume_failed", "resume must come before start and before any audio")
        }
        let request: SessionRequest.Resume
        do {
            request = try SessionRequest.resume(["resume_token": .string(resume.resumeToken), "last_seq": .number(Double(resume.lastSeq))])
        } catch {
            return self.sendError(error.code, error.message)
        }
        switch self.sessions.resume(request, connection: connection, retiring: self.clientID) {
        case .failure(let refusal):
            self.sendError(refusal.code, refusal.message)
        case .success(let (session, messages, closeAfter)):
            self.clientID = session.clientID
            self.worker = session.worker
            self.session = session
            self.stopping = session.stopRequested
            self.deliverSession(messages, closeAfter: closeAfter, receivedAt: nil)
        }
    }

    /// The client will send nothing more: without a session the call is over; with one, its
    /// answers still come (after `stop`, up to `stopped`).
    func inputEnded() {
        if self.session == nil && !self.starting { self.finish() }
    }

    /// The RPC is over (finished, failed or cancelled): a session not stopped waits for a resume.
    func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.streams.unregister(self.clientID)
        self.session?.detach(ObjectIdentifier(self))
        self.roomWaiter?.succeed()
        self.roomWaiter = nil
        self.output.finish()
    }

    // MARK: LiveConnectionHandler

    func deliver(_ result: WorkerResult) {
        // Only sessions' chunks are sent from here; their answers go to the session.
        self.streams.inFlight.wrappingDecrement(ordering: .relaxed)
    }

    func deliverSession(_ messages: [ByteBuffer], closeAfter: Bool, receivedAt: NIODeadline?) {
        for message in messages {
            if let response = ServerMessage(json: message).flatMap(Self.response) { self.send(response) }
        }
        if let waiter = self.roomWaiter, let session = self.session, self.hasRoom(session) {
            self.roomWaiter = nil
            waiter.succeed()
        }
        if closeAfter { self.finish() }
    }

    func flushOutgoing(then: (@Sendable () -> Void)?) {
        then?()
    }

    func close(code: WebSocketErrorCode, reason: String) {
        self.sendError("shutting_down", reason)
        self.finish()
    }

    func checkTimeouts(now: NIODeadline, settings: StreamTimeouts.Settings) {}

    // MARK: answers

    private func send(_ response: Response) {
        guard !self.finished else { return }
        self.output.yield(response)
    }

    private func sendError(_ code: String, _ message: String, seq: UInt64 = 0) {
        self.send(
            .with {
                $0.error = .with {
                    $0.code = code
                    $0.message = message
                    $0.seq = seq
                }
            }
        )
    }

    /// A session's rendered JSON answer as its protobuf message.
    static func response(_ message: ServerMessage) -> Response? {
        switch message.type {
        case "transcript":
            return .with {
                $0.transcript = .with {
                    $0.clientID = message.clientID ?? 0
                    $0.seq = message.seq ?? 0
                    $0.transcription = message.transcription ?? ""
                    $0.startMs = message.startMs ?? 0
                    $0.endMs = message.endMs ?? 0
                }
            }
        case "final":
            return .with {
                $0.final = .with {
                    $0.clientID = message.clientID ?? 0
                    $0.seqFrom = message.seqFrom ?? 0
                    $0.seqTo = message.seqTo ?? 0
                    $0.startMs = message.startMs ?? 0
                    $0.endMs = message.endMs ?? 0
                    $0.channel = Int32(message.channel ?? 0)
                    $0.text = message.text ?? ""
                }
            }
        case "stopped":
            return .with {
                $0.stopped = .with {
                    $0.callID = message.callID ?? ""
                    $0.chunks = Int64(message.chunks ?? 0)
                    $0.bytes = message.bytes ?? 0
                    $0.durationSec = message.durationSec ?? 0
                    $0.errors = Int64(message.errors ?? 0)
                }
            }
        case "resumed":
            return .with {
                $0.resumed = .with {
                    $0.clientID = message.clientID ?? 0
                    $0.callID = message.callID ?? ""
                    $0.nextSeq = message.nextSeq ?? 0
                }
            }
        case "error":
            return .with {
                $0.error = .with {
                    $0.code = message.error?.code ?? "error"
                    $0.message = message.error?.message ?? ""
                    $0.seq = message.seq ?? 0
                }
            }
        default:
            return nil
        }
    }
}
