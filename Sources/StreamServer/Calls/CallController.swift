import RequestParsing
import AudioAnalysis
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// The REST API for calls and their recordings.
struct CallController<Context: RequestContext>: Sendable {
    let repository: any CallRepository
    let files: RecordingFiles
    let maxUploadBytes: Int64
    let analyses: any RecordingAnalysisQueue
    /// How much of an upload's opening the analysis transcribes.
    let transcribeSeconds: Int
    let deleter: CallDeleter
    /// `--max-recording-minutes` in seconds: a longer upload is refused with 413.
    var maxRecordingSeconds: Double?
    var idempotency: IdempotencyKeys { IdempotencyKeys(repository: self.repository) }

    func addRoutes(to router: Router<Context>) {
        router.post("/calls") { request, context in try await self.create(request, context: context) }
        router.get("/calls") { request, _ in try await self.search(request) }
        router.get("/calls/:id") { _, context in try await self.show(context) }
        router.post("/calls/:id/recording") { request, context in try await self.upload(request, context: context) }
        router.get("/calls/:id/download") { request, context in try await self.download(request, context: context) }
        router.get("/calls/:id/transcript") { request, context in try await self.transcript(request, context: context) }
        router.delete("/calls/:id") { _, context in try await self.delete(context) }
        router.patch("/calls/:id") { request, context in try await self.update(request, context: context) }
    }

    /// `DELETE /calls/{id}`: the call, its recording, its transcript and its file; 409 while a
    /// live session records it.
    func delete(_ context: Context) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw Self.callNotFound }
        do {
            try await self.deleter.delete(id)
        } catch CallDeleter.Refusal.notFound {
            throw Self.callNotFound
        } catch CallDeleter.Refusal.live {
            throw APIError(.conflict, code: "call_live", message: "a live session is recording this call; stop it first")
        }
        context.logger.info("call deleted", metadata: ["call_id": "\(id.uuidString.lowercased())"])
        return Response(status: .noContent)
    }

    /// The stored segments (a real engine's, or a live session's per chunk with the mock); a
    /// mock-analysed upload's transcription as one segment over the seconds it covers. With
    /// `?q=`, each segment says whether it contains any of the words. Private calls'
    /// transcripts are their recordings' content, and are not served either.
    func transcript(_ request: Request, context: Context) async throws -> TranscriptJSON {
        var words: SpokenWords?
        if let q = request.uri.queryParameters["q"] {
            guard let found = try SpokenWords(q, parameter: "q") else {
                throw InputError(code: "invalid_q", message: "q must have at least one word")
            }
            words = found
        }
        let existing = try await self.existingCall(context)
        guard !existing.call.isPrivate else {
            throw APIError(.forbidden, code: "recording_private", message: "this call's recording and transcript are private")
        }
        var segments = try await self.repository.segments(callID: existing.call.id)
        if segments.isEmpty, let recording = existing.recording, recording.origin == .upload, let text = recording.transcription {
            let endMs = Int64((min(recording.durationSec ?? 0, Double(self.transcribeSeconds)) * 1000).rounded())
            segments = [TranscriptSegment(callID: existing.call.id, seq: 1, startMs: 0, endMs: endMs, text: text)]
        }
        guard !segments.isEmpty else {
            throw APIError(.notFound, code: "transcript_not_found", message: "this call has no transcript yet")
        }
        var matching: Set<Int64>?
        if let words { matching = try await self.repository.matchingSegments(callID: existing.call.id, words: words) }
        return TranscriptJSON(callID: existing.call.id.uuidString.lowercased(), segments: segments, matching: matching)
    }

    static var maxCallBytes: Int { 64 * 1024 }

    /// A call's body type: JSON (`application/json`, `…+json`), or what `curl -d` sends
    /// without `-H` (`application/x-www-form-urlencoded`), since that is how people try an
    /// API; anything else (multipart, text, XML…) is refused with 415.
    static func acceptsAsJSON(_ contentType: String) -> Bool {
        let type = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return type == "application/json" || type.hasSuffix("+json") || type == "application/x-www-form-urlencoded"
    }

    /// A JSON request body (`what` names it in errors: "a call", "a patch"): 415 for another
    /// type, 413 past 64 KiB — refused on its declared length before any of it is read.
    static func jsonBody(of request: Request, what: String) async throws -> ByteBuffer {
        if let type = request.headers[.contentType], !Self.acceptsAsJSON(type) {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "\(what) is sent as application/json")
        }
        let tooLarge = APIError(.contentTooLarge, code: "body_too_large", message: "\(what) is at most 64 KiB of JSON")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxCallBytes { throw tooLarge }
        var request = request
        do {
            return try await request.collectBody(upTo: Self.maxCallBytes)
        } catch {
            throw tooLarge
        }
    }

    func create(_ request: Request, context: Context) async throws -> Response {
        let key = try IdempotencyKeys.key(of: request)
        let body = try await Self.jsonBody(of: request, what: "a call")
        guard let key else { return try await self.create(body, logger: context.logger).response }
        let requestHash = IdempotencyKeys.hash([Array("POST /calls".utf8), Array(body.readableBytesView)])
        if let answer = try await self.idempotency.claim(key) {
            return try self.idempotency.replay(answer, requestHash: requestHash)
        }
        return try await self.idempotency.run(key: key, requestHash: requestHash) {
            try await self.create(body, logger: context.logger)
        }
    }

    func create(_ body: ByteBuffer, logger: Logger) async throws -> RenderedResponse {
        let fields = try NewCallRequest(json: body)
        let now = Timestamp.now
        let call = Call(
            id: UUID(),
            caller: fields.caller,
            receiver: fields.receiver,
            startedAt: fields.startedAt,
            status: .created,
            isPrivate: fields.isPrivate,
            createdAt: now,
            updatedAt: now,
            externalID: fields.externalID
        )
        try await self.repository.create(call)
        logger.info(
            "call created",
            metadata: ["call_id": "\(call.id.uuidString.lowercased())", "caller": "\(call.caller)", "receiver": "\(call.receiver)"]
        )
        return try RenderedResponse(status: .created, json: CallJSON(item: CallWithRecording(call: call, recording: nil)))
    }

    /// `PATCH /calls/{id}`: caller, receiver or private changed (e.g. an AudioSocket call's
    /// numbers, known only once it is over).
    func update(_ request: Request, context: Context) async throws -> CallJSON {
        let body = try await Self.jsonBody(of: request, what: "a patch")
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw Self.callNotFound }
        guard let fields = JSONValue.object(Data(buffer: body)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "the body must be a JSON object")
        }
        let patch = try CallPatch(fields)
        do {
            let updated = try await self.repository.update(callID: id, patch)
            context.logger.info(
                "call updated",
                metadata: ["call_id": "\(text.lowercased())", "fields": "\(fields.keys.sorted().joined(separator: ","))"]
            )
            return CallJSON(item: updated)
        } catch {
            throw Self.apiError(error)
        }
    }

    func search(_ request: Request) async throws -> CallListJSON {
        let search = try CallSearch(parameters: request.uri.queryParameters)
        let page = try await self.repository.search(search)
        return CallListJSON(total: page.total, limit: search.limit, offset: search.offset, items: page.items.map { CallJSON(item: $0) })
    }

    func show(_ context: Context) async throws -> CallJSON {
        CallJSON(item: try await self.existingCall(context))
    }

    func upload(_ request: Request, context: Context) async throws -> Response {
        let key = try IdempotencyKeys.key(of: request)
        let existing = try await self.existingCall(context)
        guard let key else {
            // Refuse before reading a byte of a body that cannot be used.
            guard existing.recording == nil else { throw Self.alreadyRecorded }
            let received = try await self.receive(request)
            return try await self.store(received, for: existing, logger: context.logger).response
        }
        // With a key the body is always received: only the file it carries tells a retry of
        // the first request from a different one.
        let previous = try await self.idempotency.claim(key)
        let received: ReceivedUpload
        do {
            received = try await self.receive(request)
        } catch {
            if previous == nil { try? await self.repository.releaseIdempotencyKey(key) }
            throw error
        }
        let requestHash = IdempotencyKeys.hash([Array("POST \(request.uri.path)".utf8), Array(received.filename.utf8), Array(received.sha256.utf8)])
        if let previous {
            await received.file.discard()
            return try self.idempotency.replay(previous, requestHash: requestHash)
        }
        return try await self.idempotency.run(key: key, requestHash: requestHash) {
            try await self.store(received, for: existing, logger: context.logger)
        }
    }

    /// An upload's file, received and hashed, not yet in place.
    struct ReceivedUpload {
        let file: UploadFile
        let filename: String
        let sha256: String
    }

    private func receive(_ request: Request) async throws -> ReceivedUpload {
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > self.maxUploadBytes + MultipartUpload.formOverheadBytes {
            throw MultipartUpload.tooLarge(self.maxUploadBytes)
        }
        let file = try self.files.beginUpload()
        do {
            var upload = MultipartUpload(maxBytes: self.maxUploadBytes)
            if let limit = self.maxRecordingSeconds {
                // A WAV is refused mid-upload once more audio than the limit has arrived.
                upload.check = { opening, size in
                    guard let header = WAVHeader.parse(read: { offset, count in Array(opening.dropFirst(offset).prefix(count)) }),
                        header.blockAlign > 0, header.sampleRate > 0
                    else { return }
                    let seconds = Double(max(Int(size) - header.dataOffset, 0) / header.blockAlign) / Double(header.sampleRate)
                    if seconds > limit { throw Self.tooLong(limit) }
                }
            }
            let received = try await upload.receive(body: request.body, contentType: request.headers[.contentType], into: file)
            let sha256 = try await file.finish()
            return ReceivedUpload(file: file, filename: received.filename, sha256: sha256)
        } catch {
            await file.discard()
            throw error
        }
    }

    /// Checks the received file is audio we decode, moves it into place, attaches it to the
    /// call and queues its analysis. The file is discarded on any refusal.
    func store(_ received: ReceivedUpload, for existing: CallWithRecording, logger: Logger) async throws -> RenderedResponse {
        let file = received.file
        do {
            let kind = try await NIOThreadPool.singleton.runIfActive {
                try AudioSniffer.sniff { offset, count in try file.read(offset: offset, count: count) }
            }
            guard let kind else {
                throw APIError(
                    .unprocessableContent,
                    code: "invalid_audio",
                    message: "the file is not a WAV (PCM or float, 1-8 channels) or MP3 we can decode"
                )
            }
            let format: AudioFileFormat = kind == .wav ? .wav : .mp3
            if let limit = self.maxRecordingSeconds {
                let size = Int(file.size)
                let seconds = try await NIOThreadPool.singleton.runIfActive {
                    try AudioDuration.seconds(read: { offset, count in try file.read(offset: offset, count: count) }, size: size, atMost: limit)
                }
                if let seconds, seconds > limit { throw Self.tooLong(limit) }
            }
            let now = Timestamp.now
            let id = UUID()
            let storedPath = self.files.relativePath(id: id, format: format)
            let recording = Recording(
                id: id,
                callID: existing.call.id,
                filename: received.filename,
                storedPath: storedPath,
                format: format,
                sizeBytes: file.size,
                sha256: received.sha256,
                attempts: 0,
                createdAt: now,
                updatedAt: now
            )
            try await self.files.commit(file, to: storedPath)
            let attached: CallWithRecording
            do {
                attached = try await self.repository.attach(recording)
            } catch {
                self.files.remove(storedPath)
                throw Self.apiError(error)
            }
            self.analyses.enqueue(recording)
            logger.info(
                "recording uploaded",
                metadata: [
                    "call_id": "\(existing.call.id.uuidString.lowercased())", "recording": "\(id.uuidString.lowercased())", "bytes": "\(file.size)",
                ]
            )
            return try RenderedResponse(status: .accepted, json: RecordingJSON(recording: recording, status: attached.call.status))
        } catch {
            await file.discard()
            throw error
        }
    }

    func download(_ request: Request, context: Context) async throws -> Response {
        let existing = try await self.existingCall(context)
        guard !existing.call.isPrivate else {
            throw APIError(.forbidden, code: "recording_private", message: "this call's recording is private")
        }
        guard let recording = existing.recording else {
            throw APIError(.notFound, code: "recording_not_found", message: "this call has no recording yet")
        }
        let size = recording.servedSizeBytes
        var headers: HTTPFields = [
            .contentType: recording.servedFormat.contentType,
            .acceptRanges: "bytes",
            .contentDisposition: Self.contentDisposition(filename: recording.servedFilename),
        ]
        let path = self.files.absolutePath(recording.storedPath)
        switch ByteRange(header: request.headers[.range], size: size) {
        case .whole:
            headers[.contentLength] = String(size)
            let body = try await FileIO().loadFile(path: path, range: 0...Int(max(size - 1, 0)), context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .partial(let range):
            headers[.contentLength] = String(range.count)
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            let body = try await FileIO().loadFile(path: path, range: Int(range.lowerBound)...Int(range.upperBound), context: context)
            return Response(status: .partialContent, headers: headers, body: body)
        case .unsatisfiable:
            var response = try APIError(.rangeNotSatisfiable, code: "range_not_satisfiable", message: "the file has \(size) bytes")
                .response(from: request, context: context)
            response.headers[.contentRange] = "bytes */\(size)"
            return response
        }
    }

    private func existingCall(_ context: Context) async throws -> CallWithRecording {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text),
            let found = try await self.repository.find(id: id)
        else {
            throw Self.callNotFound
        }
        return found
    }

    private static func tooLong(_ limit: Double) -> APIError {
        APIError(
            .contentTooLarge,
            code: "recording_too_long",
            message: "the recording is longer than \(RecordingLimit.minutesText(limit)) minutes (--max-recording-minutes)"
        )
    }

    private static var callNotFound: APIError { APIError(.notFound, code: "call_not_found", message: "no call with this id") }

    private static var alreadyRecorded: APIError {
        APIError(.conflict, code: "recording_already_exists", message: "this call already has a recording")
    }

    private static func apiError(_ error: any Error) -> any Error {
        switch error as? CallRepositoryError {
        case .conflict: alreadyRecorded
        case .notFound: APIError(.notFound, code: "call_not_found", message: "no call with this id")
        case nil: error
        }
    }

    /// `attachment` with an ASCII fallback name and the exact name in RFC 5987 form.
    static func contentDisposition(filename: String) -> String {
        let fallback = String(filename.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let encoded = filename.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: ".-_~"))) ?? fallback
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }
}
