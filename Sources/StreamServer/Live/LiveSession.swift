import RequestParsing
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Protocol

/// A started live stream: its format, its call and recording, its seq numbering, the chunks it
/// still awaits answers for, and what a reconnect needs. It outlives its connection for the
/// resume window, so a dropped connection loses nothing.
///
/// Threading: the attached connection's handler calls `submit`/`stop`/`detach` on its loop;
/// answers arrive (`accept`) on the worker's loop. One lock serialises them. Answers come in
/// seq order (one worker owns the session), so the recording is appended in order and
/// `retained` holds the newest answers in order, contiguous by seq.
final class LiveSession: Sendable {
    enum Phase: Sendable {
        /// A connection carries the session.
        case attached(LiveStreams.Connection)
        /// `stop` arrived on this connection: `stopped` goes out once every chunk is answered.
        case stopping(LiveStreams.Connection)
        /// The connection dropped without `stop`: waiting for a resume until the timer fires.
        case detached(Scheduled<Void>?)
        /// Over (no resume will come): waiting for the last answers, then `flushing`.
        case closing
        /// Every chunk is answered and the worker told the audio is over: waiting for its last
        /// finals (`sessionEnded`), then `stopped` goes to the connection, if one is attached.
        case flushing(LiveStreams.Connection?)
        /// Finished: the recording is being (or has been) finalised.
        case ended

        /// The connection carrying the session, if one does.
        var connection: LiveStreams.Connection? {
            switch self {
            case .attached(let connection), .stopping(let connection): connection
            case .flushing(let connection): connection
            case .detached, .closing, .ended: nil
            }
        }
    }

    /// What goes to the attached connection after an answer.
    struct Delivery: Sendable {
        let connection: LiveStreams.Connection
        let messages: [ByteBuffer]
        /// The session stopped: after these messages, close with 1000.
        let closeAfter: Bool
        /// When the answered chunk arrived (for the transcript latency metric).
        var receivedAt: NIODeadline?
    }

    /// An answer kept for a resume. A transcript, the bulk of them, keeps its fields and is
    /// rendered again on a resume (the same bytes): a third of the memory of its JSON buffer.
    private struct Answer {
        enum Body {
            case transcript(startMs: Int64, text: String)
            case message(ByteBuffer)
        }

        let seq: UInt64
        /// Where the answered chunk's audio ends in the stream: retention is counted in audio.
        let endMs: Int64
        let body: Body

        init(seq: UInt64, endMs: Int64, json: ByteBuffer) {
            self.init(seq: seq, endMs: endMs, body: .message(json))
        }

        init(seq: UInt64, endMs: Int64, body: Body) {
            self.seq = seq
            self.endMs = endMs
            self.body = body
        }

        func json(clientID: UInt64) -> ByteBuffer {
            switch self.body {
            case .transcript(let startMs, let text):
                var json = ByteBuffer()
                json.writeTranscriptJSON(clientID: clientID, seq: self.seq, text: text, startMs: startMs, endMs: self.endMs)
                return json
            case .message(let json):
                return json
            }
        }
    }

    private struct State {
        var phase: Phase
        var lastSeq: UInt64 = 0
        var lastAnswered: UInt64 = 0
        var inFlightSizes = CircularBuffer<InFlightChunk>()
        var inFlightBytes = 0
        /// Decoded frames so far: where the next chunk's audio starts.
        var frames: Int64 = 0
        var chunks = 0
        var bytes: Int64 = 0
        var errors = 0
        var retained = CircularBuffer<Answer>()
        /// `stop` arrived (a resumed connection gets `stopped` once everything is answered).
        var stopRequested = false
        /// The audio reached `--max-recording-minutes`: later chunks are answered, not kept.
        var limitReached = false
        /// The recording could not be written (a full disk): later chunks are answered, not kept.
        var storageFull = false
        /// The `stopped` message, once sent: a client whose connection dropped before it
        /// arrived resumes (within the window) and gets it again.
        var stopped: ByteBuffer?
        /// Finals stored as transcript segments so far (their seq numbers).
        var storedFinals: Int64 = 0
        /// Finals whose last chunk's transcript has not gone out yet: they follow it.
        var heldFinals: [LiveFinal] = []
        /// Where each channel's last final ended: a replacement worker may decode again what
        /// its predecessor had sent.
        var finalEnds: [UInt8: UInt32] = [:]
    }

    let clientID: UInt64
    let format: StreamFormat
    let callID: UUID?
    /// The recording's row and file, when the session records.
    let recording: Recording?
    let file: LiveRecordingFile?
    /// The call's messages for its subscribers (a recorded session's only).
    let feed: TranscriptFeed?
    let worker: WorkerSlot
    let token: ResumeToken
    private let owner: LiveSessions
    private let state: NIOLockedValueBox<State>

    init(
        clientID: UInt64,
        format: StreamFormat,
        recording: Recording?,
        file: LiveRecordingFile?,
        feed: TranscriptFeed?,
        worker: WorkerSlot,
        connection: LiveStreams.Connection,
        owner: LiveSessions
    ) {
        self.feed = feed
        self.clientID = clientID
        self.format = format
        self.callID = recording?.callID
        self.recording = recording
        self.file = file
        self.worker = worker
        self.token = ResumeToken.random()
        self.owner = owner
        self.state = NIOLockedValueBox(State(phase: .attached(connection)))
    }

    var callIDText: String? { self.callID?.uuidString.lowercased() }

    /// Whether a connection carries the session (`live`) or it waits for a resume.
    var isLive: Bool {
        self.state.withLockedValue { state in
            switch state.phase {
            case .attached, .stopping: true
            case .flushing(let connection): connection != nil
            case .detached, .closing, .ended: false
            }
        }
    }

    /// Finished: its recording is final (or being finalised).
    var hasEnded: Bool {
        self.state.withLockedValue { state in
            if case .ended = state.phase { return true }
            return false
        }
    }

    var isWaitingForResume: Bool {
        self.state.withLockedValue { state in
            if case .detached = state.phase { return true }
            return false
        }
    }

    /// Chunks and bytes awaiting answers (the attached handler's backpressure).
    var inFlight: (chunks: Int, bytes: Int) {
        self.state.withLockedValue { ($0.inFlightSizes.count, $0.inFlightBytes) }
    }

    /// One binary message from the attached connection, received at `receivedAt`; returns its
    /// seq, or nil when the session is stopping (it reached `--max-recording-minutes`).
    func submit(_ audio: ByteBuffer, receivedAt: NIODeadline) -> UInt64? {
        let size = audio.readableBytes
        let seq = self.state.withLockedValue { state -> UInt64? in
            guard !state.stopRequested else { return nil }
            state.lastSeq += 1
            state.chunks += 1
            state.bytes += Int64(size)
            state.inFlightSizes.append(InFlightChunk(size: size, receivedAt: receivedAt))
            state.inFlightBytes += size
            return state.lastSeq
        }
        guard let seq else { return nil }
        // Only the attached handler submits, one message at a time: the worker sees seq order.
        self.worker.submit(clientID: self.clientID, seq: seq, audio: audio, format: self.format)
        return seq
    }

    /// A worker's answer for this session's oldest chunk in flight, or one of its finals, or
    /// the worker's `sessionEnded`.
    func accept(_ result: WorkerResult) -> Delivery? {
        switch result.outcome {
        case .final(let final): return self.accept(final)
        case .sessionEnded: return self.ended()
        case .transcript, .decoded, .failed: break
        }
        var segment: TranscriptSegment?
        var flush = false
        let delivery = self.state.withLockedValue { state -> Delivery? in
            let answered = state.inFlightSizes.popFirst()
            if let answered { state.inFlightBytes -= answered.size }
            state.lastAnswered = result.seq
            var json: ByteBuffer
            var kept: Answer.Body?
            var notice: ByteBuffer?
            // Subscribers get transcripts and finals, not this stream's errors.
            var isTranscript = true
            switch result.outcome {
            case .decoded(_, _) where state.limitReached || state.storageFull:
                // Past --max-recording-minutes, or past a failed write: acked before that was
                // known, not kept.
                isTranscript = false
                state.errors += 1
                json = Self.answerBuffer(for: "")
                if state.storageFull {
                    json.writeErrorJSON(code: "storage_full", message: "the server's storage is full: this chunk was not kept", seq: result.seq)
                } else {
                    json.writeErrorJSON(
                        code: "recording_too_long",
                        message: "this chunk is past the recording's length limit and was not kept",
                        seq: result.seq
                    )
                }
            case .decoded(let text, var pcm):
                json = Self.answerBuffer(for: text)
                let startMs = self.format.milliseconds(frames: state.frames)
                if let limit = self.owner.settings.maxRecordingSeconds {
                    let limitFrames = Int64(limit * Double(self.format.sampleRate))
                    let frames = Int64(pcm.readableBytes / self.format.pcmFrameBytes)
                    if state.frames + frames >= limitFrames {
                        pcm = pcm.getSlice(at: pcm.readerIndex, length: Int(limitFrames - state.frames) * self.format.pcmFrameBytes) ?? pcm
                        notice = self.reachedLimit(&state, seconds: limit)
                    }
                }
                state.frames += Int64(pcm.readableBytes / self.format.pcmFrameBytes)
                let endMs = self.format.milliseconds(frames: state.frames)
                self.file?.append(pcm)
                json.writeTranscriptJSON(clientID: self.clientID, seq: result.seq, text: text, startMs: startMs, endMs: endMs)
                kept = .transcript(startMs: startMs, text: text)
                // With a real engine the text is a partial hypothesis: the finals are stored.
                if let callID = self.callID, self.owner.settings.storesChunkTexts {
                    segment = TranscriptSegment(callID: callID, seq: Int64(result.seq), startMs: startMs, endMs: endMs, text: text)
                }
            case .transcript(let text):
                json = Self.answerBuffer(for: text)
                // Only a plain chunk is answered this way; a session's never are. Shown without audio.
                let at = self.format.milliseconds(frames: state.frames)
                json.writeTranscriptJSON(clientID: self.clientID, seq: result.seq, text: text, startMs: at, endMs: at)
            case .failed(let code, let message):
                isTranscript = false
                state.errors += 1
                json = Self.answerBuffer(for: code + message)
                json.writeErrorJSON(code: code, message: message, seq: result.seq)
            case .final, .sessionEnded:
                return nil
            }
            let endMs = self.format.milliseconds(frames: state.frames)
            state.retained.append(Answer(seq: result.seq, endMs: endMs, body: kept ?? .message(json)))
            var messages = [json]
            if let notice {
                state.retained.append(Answer(seq: result.seq, endMs: endMs, json: notice))
                messages.append(notice)
            }
            let finals = self.releaseFinals(upTo: result.seq, &state)
            messages += finals
            self.feed?.publish(isTranscript ? [json] + finals : finals)
            self.trimRetained(&state)
            let allAnswered = state.inFlightSizes.isEmpty
            switch state.phase {
            case .attached(let connection):
                return Delivery(connection: connection, messages: messages, closeAfter: false, receivedAt: answered?.receivedAt)
            case .stopping(let connection):
                if allAnswered {
                    state.phase = .flushing(connection)
                    flush = true
                }
                return Delivery(connection: connection, messages: messages, closeAfter: false, receivedAt: answered?.receivedAt)
            case .closing:
                if allAnswered {
                    state.phase = .flushing(nil)
                    flush = true
                }
                return nil
            case .flushing(let connection):
                return connection.map { Delivery(connection: $0, messages: messages, closeAfter: false, receivedAt: answered?.receivedAt) }
            case .detached, .ended:
                return nil
            }
        }
        if let segment { self.owner.store(segment) }
        if flush { self.worker.endSession(clientID: self.clientID) }
        return delivery
    }

    /// A final: sent after the transcript of its last chunk (held until then), kept for a
    /// resume, and stored as a transcript segment.
    private func accept(_ final: LiveFinal) -> Delivery? {
        var segment: TranscriptSegment?
        let delivery = self.state.withLockedValue { state -> Delivery? in
            let channel = final.segment.channel
            if let last = state.finalEnds[channel], final.segment.endMs <= last { return nil }
            state.finalEnds[channel] = final.segment.endMs
            if let callID = self.callID, !final.segment.text.isEmpty {
                state.storedFinals += 1
                segment = TranscriptSegment(callID: callID, seq: state.storedFinals, segment: final.segment)
            }
            guard final.seqTo <= state.lastAnswered else {
                state.heldFinals.append(final)
                return nil
            }
            let json = self.retain(final, &state)
            self.feed?.publish([json])
            self.trimRetained(&state)
            return state.phase.connection.map { Delivery(connection: $0, messages: [json], closeAfter: false) }
        }
        if let segment { self.owner.store(segment) }
        return delivery
    }

    /// The worker has sent the last final: the session has ended. `stopped` goes out (and is
    /// kept for a resume) if the client asked for it.
    private func ended() -> Delivery? {
        var finished = false
        let delivery = self.state.withLockedValue { state -> Delivery? in
            guard case .flushing(let connection) = state.phase else { return nil }
            state.phase = .ended
            finished = true
            var messages = self.releaseFinals(upTo: .max, &state)
            // Subscribers learn the call is over however it ended.
            let stopped = self.stoppedJSON(&state)
            self.feed?.publish(messages + [stopped])
            guard state.stopRequested else { return nil }
            messages.append(stopped)
            return connection.map { Delivery(connection: $0, messages: messages, closeAfter: true) }
        }
        if finished {
            self.feed?.end()
            self.owner.finalise(self)
        }
        return delivery
    }

    /// The held finals whose last chunk is answered by now (up to `seq`), rendered and kept.
    private func releaseFinals(upTo seq: UInt64, _ state: inout State) -> [ByteBuffer] {
        guard !state.heldFinals.isEmpty else { return [] }
        var messages: [ByteBuffer] = []
        while let first = state.heldFinals.first, first.seqTo <= seq {
            state.heldFinals.removeFirst()
            messages.append(self.retain(first, &state))
        }
        return messages
    }

    private func retain(_ final: LiveFinal, _ state: inout State) -> ByteBuffer {
        var json = Self.answerBuffer(for: final.segment.text)
        json.writeFinalJSON(clientID: self.clientID, seqFrom: final.seqFrom, seqTo: final.seqTo, segment: final.segment)
        state.retained.append(Answer(seq: final.seqTo, endMs: Int64(final.segment.endMs), json: json))
        return json
    }

    /// `stop` from the attached connection. Once every chunk is answered the worker is told
    /// the audio is over; `stopped` follows its last final.
    func stop(from handler: ObjectIdentifier) {
        let flush = self.state.withLockedValue { state -> Bool in
            guard case .attached(let connection) = state.phase, connection.id == handler else { return false }
            state.stopRequested = true
            guard state.inFlightSizes.isEmpty else {
                state.phase = .stopping(connection)
                return false
            }
            state.phase = .flushing(connection)
            return true
        }
        if flush { self.worker.endSession(clientID: self.clientID) }
    }

    /// The connection `handler` is gone: the session waits `resumeWindow` for a resume (none
    /// with a window of 0). After `stop` too: the client still wants its answers and `stopped`.
    func detach(_ handler: ObjectIdentifier) {
        let window = self.owner.settings.resumeWindow
        var flush = false
        self.state.withLockedValue { state in
            switch state.phase {
            case .attached(let connection) where connection.id == handler, .stopping(let connection) where connection.id == handler:
                if window > .zero {
                    let timer = self.worker.eventLoop.scheduleTask(in: window) { self.expire() }
                    state.phase = .detached(timer)
                } else {
                    flush = Self.close(&state)
                }
            case .flushing(let connection) where connection?.id == handler:
                // Ends anyway; a stopped session's `stopped` is kept for a resume.
                state.phase = .flushing(nil)
            default:
                break
            }
        }
        if flush { self.worker.endSession(clientID: self.clientID) }
    }

    /// A telephony call is over (Twilio's stream closed, Asterisk hung up) and nothing will
    /// resume it: the audio still gathered goes in, the session stops and ends at once, and
    /// `handler` is let go. Returns how many chunks went in, for the caller's in-flight count.
    func hangUp(from handler: ObjectIdentifier, lastAudio: [ByteBuffer]) -> Int {
        let receivedAt = NIODeadline.now()
        var submitted = 0
        for chunk in lastAudio {
            guard self.submit(chunk, receivedAt: receivedAt) != nil else { break }
            submitted += 1
        }
        self.stop(from: handler)
        self.expire()
        self.detach(handler)
        return submitted
    }

    /// The resume window ran out, or the server is shutting down: no connection will come back.
    func expire() {
        var flush = false
        self.state.withLockedValue { state in
            switch state.phase {
            case .detached(let timer):
                timer?.cancel()
                flush = Self.close(&state)
            case .attached, .stopping:
                flush = Self.close(&state)
            case .closing, .flushing, .ended:
                break
            }
        }
        if flush { self.worker.endSession(clientID: self.clientID) }
    }

    /// Moves to `closing`, or straight to `flushing` when nothing is in flight (returns true:
    /// the worker is to be told).
    private static func close(_ state: inout State) -> Bool {
        guard state.inFlightSizes.isEmpty else {
            state.phase = .closing
            return false
        }
        state.phase = .flushing(nil)
        return true
    }

    /// Takes the session over for `connection`: the `resumed` message, then every answer
    /// after `lastSeq`, in order. Refused while another connection carries it, after it has
    /// ended, or when answers after `lastSeq` have already been dropped from `retained`.
    func resume(lastSeq: UInt64, connection: LiveStreams.Connection) -> Result<(messages: [ByteBuffer], closeAfter: Bool), SessionRequest.Refusal> {
        var flush = false
        let result = self.state.withLockedValue { state -> Result<(messages: [ByteBuffer], closeAfter: Bool), SessionRequest.Refusal> in
            switch state.phase {
            case .attached, .stopping, .flushing(.some):
                return .failure(.init(code: "session_attached", message: "the session is carried by another connection"))
            case .flushing(nil):
                // Stopped, and its last finals are on their way: they and `stopped` come here.
                guard state.stopRequested else { return .failure(.init(code: "resume_failed", message: "the session has ended")) }
                let replay = self.replay(after: lastSeq, state)
                if case .success = replay { state.phase = .flushing(connection) }
                return replay.map { ($0, false) }
            case .ended:
                // Stopped, but `stopped` may have been lost with the connection: send it again.
                // (`stopped` is rendered for subscribers however a session ends: only a session
                // that was stopped resumes to it.)
                guard state.stopRequested, let stopped = state.stopped else {
                    return .failure(.init(code: "resume_failed", message: "the session has ended"))
                }
                return self.replay(after: lastSeq, state).map { ($0 + [stopped], true) }
            case .closing:
                return .failure(.init(code: "resume_failed", message: "the session has ended"))
            case .detached(let timer):
                let replay = self.replay(after: lastSeq, state)
                guard case .success(let messages) = replay else { return replay.map { ($0, false) } }
                timer?.cancel()
                guard state.stopRequested else {
                    state.phase = .attached(connection)
                    return .success((messages, false))
                }
                // Stopped before the drop: finish the stop on this connection.
                guard state.inFlightSizes.isEmpty else {
                    state.phase = .stopping(connection)
                    return .success((messages, false))
                }
                state.phase = .flushing(connection)
                flush = true
                return .success((messages, false))
            }
        }
        if flush { self.worker.endSession(clientID: self.clientID) }
        return result
    }

    /// The recording could not be written (a full disk; called from the thread pool): the
    /// session stops as if the client had sent `stop`, what was written is kept and analysed,
    /// and the client is told with a `storage_full` error.
    func recordingFailed(_ error: any Error) {
        var notice = ByteBuffer()
        notice.writeErrorJSON(
            code: "storage_full",
            message: "the server could not write the recording (\(error)): what was written is kept and analysed, the session stops"
        )
        var send: LiveStreams.Connection?
        var flush = false
        self.state.withLockedValue { state in
            guard !state.storageFull, !state.stopRequested else { return }
            state.storageFull = true
            state.stopRequested = true
            state.retained.append(Answer(seq: state.lastAnswered, endMs: self.format.milliseconds(frames: state.frames), json: notice))
            guard case .attached(let connection) = state.phase else { return }
            send = connection
            if state.inFlightSizes.isEmpty {
                state.phase = .flushing(connection)
                flush = true
            } else {
                state.phase = .stopping(connection)
            }
        }
        self.owner.logger.error("a live recording could not be written; stopping its session", metadata: ["error": "\(error)"])
        guard let connection = send else { return }
        self.owner.send([notice], closeAfter: false, to: connection, behindAnswersFrom: self.worker.eventLoop)
        if flush { self.worker.endSession(clientID: self.clientID) }
    }

    /// The session's audio reached `--max-recording-minutes`: it stops as if the client had
    /// sent `stop` (no more audio is taken; `stopped` follows the last answer). Returns the
    /// error message that says so.
    private func reachedLimit(_ state: inout State, seconds: Double) -> ByteBuffer {
        state.limitReached = true
        state.stopRequested = true
        if case .attached(let connection) = state.phase { state.phase = .stopping(connection) }
        var notice = ByteBuffer()
        notice.writeErrorJSON(
            code: "recording_too_long",
            message:
                "the session reached the \(RecordingLimit.minutesText(seconds))-minute limit (--max-recording-minutes): that much is kept and analysed, the session stops"
        )
        return notice
    }

    /// Keeps the answers to the last `retainedAudio` of audio, and at least `retainedAnswers`
    /// of them: what a client that lags behind in reading, or loses its connection, may miss.
    private func trimRetained(_ state: inout State) {
        let settings = self.owner.settings
        let keepMs = Int64(settings.retainedAudio.nanoseconds / 1_000_000)
        guard let newest = state.retained.last?.endMs else { return }
        while state.retained.count > settings.retainedAnswers, let oldest = state.retained.first, newest - oldest.endMs > keepMs {
            state.retained.removeFirst()
        }
    }

    /// A buffer sized for one answer carrying `text`: it never regrows while being written, and
    /// finals and errors are kept for a resume, where a doubled buffer would hold a third more.
    private static func answerBuffer(for text: String) -> ByteBuffer {
        ByteBufferAllocator().buffer(capacity: 112 + text.utf8.count)
    }

    /// `resumed`, then every retained answer after `lastSeq`; refused when `lastSeq` is past
    /// the last answer or the answers after it are no longer held.
    private func replay(after lastSeq: UInt64, _ state: State) -> Result<[ByteBuffer], SessionRequest.Refusal> {
        guard lastSeq <= state.lastAnswered else {
            return .failure(.init(code: "resume_failed", message: "last_seq \(lastSeq) is past the last answer sent (\(state.lastAnswered))"))
        }
        if lastSeq < state.lastAnswered, let oldest = state.retained.first?.seq, oldest > lastSeq + 1 {
            return .failure(
                .init(
                    code: "resume_failed",
                    message:
                        "the answers after seq \(lastSeq) are no longer held (those to the last \(self.owner.settings.retainedAudio) of audio are kept, from seq \(oldest))"
                )
            )
        }
        var resumed = ByteBuffer()
        resumed.writeResumedJSON(clientID: self.clientID, callID: self.callIDText, nextSeq: state.lastSeq + 1)
        return .success([resumed] + state.retained.filter { $0.seq > lastSeq }.map { $0.json(clientID: self.clientID) })
    }

    /// Whether `stop` has arrived (a resumed connection takes no more audio).
    var stopRequested: Bool { self.state.withLockedValue { $0.stopRequested } }

    /// Renders `stopped` and keeps it for a resume.
    private func stoppedJSON(_ state: inout State) -> ByteBuffer {
        var json = ByteBuffer()
        json.writeStoppedJSON(
            callID: self.callIDText,
            chunks: state.chunks,
            bytes: state.bytes,
            durationSec: Double(state.frames) / Double(self.format.sampleRate),
            errors: state.errors
        )
        state.stopped = json
        return json
    }
}
