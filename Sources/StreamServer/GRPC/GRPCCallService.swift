import CallStreamGRPC
import Foundation
import GRPCCore
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import RequestParsing

/// The gRPC API (`proto/callstream/v1/calls.proto`): the REST API's operations on the same
/// store, through the same checks (`CallController`'s create and store, `CallFields`,
/// `SearchFilters`) and the same idempotency keys (metadata `idempotency-key`).
struct GRPCCallService: Callstream_V1_Calls.ServiceProtocol {
    let calls: CallController<BasicRequestContext>
    /// For StreamAudio: live sessions, as the WebSocket streams have them.
    let streams: LiveStreams
    let sessions: LiveSessions
    let workers: WorkerPool
    let logger: Logger
    static let downloadPieceBytes = 64 * 1024

    private var repository: any CallRepository { self.calls.repository }

    // MARK: CreateCall

    func createCall(
        request: ServerRequest<Callstream_V1_CreateCallRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Callstream_V1_Call> {
        try await Self.answer {
            let message = request.message
            var fields: [String: Any] = [
                "caller": message.caller, "receiver": message.receiver, "started_at": message.startedAt, "private": message.private,
            ]
            if !message.externalID.isEmpty { fields["external_id"] = message.externalID }
            let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
            guard let key = try IdempotencyKeys.key(request.metadata[stringValues: "idempotency-key"].first(where: { _ in true })) else {
                return try await self.call(from: try await self.calls.create(body, logger: self.logger))
            }
            let requestHash = IdempotencyKeys.hash([Array("gRPC CreateCall".utf8), Array(body.readableBytesView)])
            return try await self.idempotently(key: key, requestHash: requestHash) {
                try await self.calls.create(body, logger: self.logger)
            }
        }
    }

    // MARK: UploadRecording

    func uploadRecording(
        request: StreamingServerRequest<Callstream_V1_UploadRecordingRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Callstream_V1_Call> {
        try await Self.answer {
            var messages = request.messages.makeAsyncIterator()
            guard case .metadata(let metadata)? = try await messages.next()?.part else {
                throw InputError(code: "invalid_upload", message: "the first message must carry the metadata (call_id, filename)")
            }
            let existing = try await self.existingCall(metadata.callID)
            let key = try IdempotencyKeys.key(request.metadata[stringValues: "idempotency-key"].first(where: { _ in true }))
            if key == nil, existing.recording != nil {
                throw APIError(.conflict, code: "recording_already_exists", message: "this call already has a recording")
            }
            let received = try await self.receive(metadata.filename, from: &messages)
            guard let key else { return try await self.call(from: try await self.calls.store(received, for: existing, logger: self.logger)) }
            let path = "/calls/\(existing.call.id.uuidString.lowercased())/recording"
            // As REST's: a retry over either API with the same key and file gets the same answer.
            let requestHash = IdempotencyKeys.hash([Array("POST \(path)".utf8), Array(received.filename.utf8), Array(received.sha256.utf8)])
            return try await self.idempotently(key: key, requestHash: requestHash, discarding: received.file) {
                try await self.calls.store(received, for: existing, logger: self.logger)
            }
        }
    }

    /// The chunks after the metadata, into an upload file (refused past `--max-upload-bytes`).
    private func receive(
        _ filename: String,
        from messages: inout RPCAsyncSequence<Callstream_V1_UploadRecordingRequest, any Error>.AsyncIterator
    ) async throws -> CallController<BasicRequestContext>.ReceivedUpload {
        try MultipartUpload.checkExtension(of: filename)
        let file = try self.calls.files.beginUpload()
        do {
            var size: Int64 = 0
            while let message = try await messages.next() {
                guard case .chunk(let chunk) = message.part else {
                    throw InputError(code: "invalid_upload", message: "only chunks may follow the metadata")
                }
                size += Int64(chunk.count)
                if size > self.calls.maxUploadBytes { throw MultipartUpload.tooLarge(self.calls.maxUploadBytes) }
                try await file.append(ByteBuffer(bytes: chunk))
            }
            let sha256 = try await file.finish()
            return .init(file: file, filename: filename, sha256: sha256)
        } catch {
            await file.discard()
            throw error
        }
    }

    // MARK: GetCall, SearchCalls

    func getCall(request: ServerRequest<Callstream_V1_GetCallRequest>, context: ServerContext) async throws -> ServerResponse<Callstream_V1_Call> {
        try await Self.answer { Callstream_V1_Call(try await self.existingCall(request.message.callID)) }
    }

    func searchCalls(
        request: ServerRequest<Callstream_V1_SearchCallsRequest>,
        context: ServerContext
    ) async throws -> ServerResponse<Callstream_V1_SearchCallsResponse> {
        try await Self.answer {
            let message = request.message
            // The REST query's parameters, from the fields given (empty and 0: not given).
            let given: [String: String] = [
                "phone": message.phone, "query": message.query, "from": message.from, "to": message.to, "text": message.text,
                "status": message.status, "external_id": message.externalID,
                "limit": message.limit == 0 ? "" : String(message.limit), "offset": message.offset == 0 ? "" : String(message.offset),
            ].filter { !$0.value.isEmpty }
            let search = try CallSearch(parameter: { given[$0].map { Substring($0) } })
            let page = try await self.repository.search(search)
            var response = Callstream_V1_SearchCallsResponse()
            response.total = Int64(page.total)
            response.limit = Int32(search.limit)
            response.offset = Int32(search.offset)
            response.items = page.items.map(Callstream_V1_Call.init)
            return response
        }
    }

    // MARK: DownloadRecording

    func downloadRecording(
        request: ServerRequest<Callstream_V1_DownloadRecordingRequest>,
        context: ServerContext
    ) async throws -> StreamingServerResponse<Callstream_V1_DownloadRecordingResponse> {
        let existing: CallWithRecording
        do {
            existing = try await self.existingCall(request.message.callID)
            guard !existing.call.isPrivate else {
                throw APIError(.forbidden, code: "recording_private", message: "this call's recording is private")
            }
        } catch {
            throw GRPCErrors.rpcError(error)
        }
        guard let recording = existing.recording else {
            throw RPCError(code: .notFound, message: "recording_not_found: this call has no recording yet")
        }
        let path = self.calls.files.absolutePath(recording.storedPath)
        return StreamingServerResponse { writer in
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw RPCError(code: .internalError, message: "internal_error: the recording's file cannot be read")
            }
            defer { try? handle.close() }
            var first = Callstream_V1_DownloadRecordingResponse()
            first.contentType = recording.servedFormat.contentType
            first.filename = recording.servedFilename
            first.sizeBytes = recording.servedSizeBytes
            var sent: Int64 = 0
            var message = first
            while sent < recording.servedSizeBytes {
                let piece = try await NIOThreadPool.singleton.runIfActive { try handle.read(upToCount: Self.downloadPieceBytes) ?? Data() }
                guard !piece.isEmpty else { break }
                message.chunk = piece
                try await writer.write(message)
                message = Callstream_V1_DownloadRecordingResponse()
                sent += Int64(piece.count)
            }
            if sent == 0 { try await writer.write(first) }
            return [:]
        }
    }

    // MARK: StreamAudio

    func streamAudio(
        request: StreamingServerRequest<Callstream_V1_StreamAudioRequest>,
        context: ServerContext
    ) async throws -> StreamingServerResponse<Callstream_V1_StreamAudioResponse> {
        guard self.streams.isAccepting else { throw RPCError(code: .unavailable, message: "shutting_down: the server is shutting down") }
        let (responses, output) = AsyncStream.makeStream(of: Callstream_V1_StreamAudioResponse.self)
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let (streams, sessions, workers, logger) = (self.streams, self.sessions, self.workers, self.logger)
        let stream = try await eventLoop.submit {
            GRPCAudioStream(eventLoop: eventLoop, streams: streams, sessions: sessions, workers: workers, output: output, logger: logger)
        }.get()
        return StreamingServerResponse { writer in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    do {
                        for try await message in request.messages {
                            try await eventLoop.flatSubmit { stream.handle(message) }.get()
                        }
                        eventLoop.execute { stream.inputEnded() }
                    } catch {
                        eventLoop.execute { stream.finish() }
                    }
                }
                defer { eventLoop.execute { stream.finish() } }
                for await response in responses { try await writer.write(response) }
                group.cancelAll()
            }
            return [:]
        }
    }

    // MARK: helpers

    private func existingCall(_ text: String) async throws -> CallWithRecording {
        guard let id = UUID(uuidString: text), let found = try await self.repository.find(id: id) else {
            throw APIError(.notFound, code: "call_not_found", message: "no call with this id")
        }
        return found
    }

    /// A REST answer (201 or 202 with a call or recording in it) as the call it is about, read again.
    private func call(from rendered: RenderedResponse) async throws -> Callstream_V1_Call {
        let json = (try? JSONSerialization.jsonObject(with: rendered.body)) as? [String: Any] ?? [:]
        guard rendered.status.code < 300 else { throw GRPCErrors.rpcError(status: rendered.status.code, json: json) }
        let id = json["call_id"] as? String ?? json["id"] as? String ?? ""
        return Callstream_V1_Call(try await self.existingCall(id))
    }

    /// Runs `body` under an idempotency key, or answers as the key's first request was answered.
    private func idempotently(
        key: String,
        requestHash: String,
        discarding file: UploadFile? = nil,
        _ body: () async throws -> RenderedResponse
    ) async throws -> Callstream_V1_Call {
        let keys = self.calls.idempotency
        if let previous = try await keys.claim(key) {
            await file?.discard()
            try IdempotencyKeys.check(previous, requestHash: requestHash)
            return try await self.call(from: RenderedResponse(status: .init(code: previous.status), body: previous.body))
        }
        return try await self.call(from: try await keys.runRendered(key: key, requestHash: requestHash, body))
    }

    private static func answer<Message>(_ body: () async throws -> Message) async throws -> ServerResponse<Message> {
        do {
            return ServerResponse(message: try await body())
        } catch {
            throw GRPCErrors.rpcError(error)
        }
    }
}
