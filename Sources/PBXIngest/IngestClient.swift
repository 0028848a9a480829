import CallStreamGRPC
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Telephony

/// Sends one pair over gRPC: `CreateCall`, then `UploadRecording`, each with an idempotency
/// key derived from the pair's bytes, so a retry after a lost answer (or after a restart of
/// pbx-ingest) gets the first answer back instead of a second call.
struct IngestClient: Sendable {
    let calls: Callstream_V1_Calls.Client<HTTP2ClientTransport.Posix>
    let token: String?
    static let chunkBytes = 64 * 1024

    /// The call id, once the recording is stored.
    func send(_ pair: RecordingPair, metadata: PBXMetadata, metadataBytes: Data) async throws -> String {
        let key = try Self.key(audioPath: pair.audioPath, metadata: metadataBytes)
        var request = Callstream_V1_CreateCallRequest()
        request.caller = metadata.caller
        request.receiver = metadata.receiver
        request.startedAt = metadata.startedAt
        request.private = metadata.isPrivate
        request.externalID = metadata.externalID ?? ""
        let call = try await self.calls.createCall(request, metadata: self.metadata(key: key + "-call"))
        let callID = call.id
        let path = pair.audioPath
        let filename = pair.audioName
        let uploaded = try await self.calls.uploadRecording(metadata: self.metadata(key: key + "-recording")) { writer in
            var first = Callstream_V1_UploadRecordingRequest()
            first.metadata = .with {
                $0.callID = callID
                $0.filename = filename
            }
            try await writer.write(first)
            guard let handle = FileHandle(forReadingAtPath: path) else { throw IngestError.unreadable(path) }
            defer { try? handle.close() }
            while let piece = try handle.read(upToCount: Self.chunkBytes), !piece.isEmpty {
                var message = Callstream_V1_UploadRecordingRequest()
                message.chunk = piece
                try await writer.write(message)
            }
        }
        return uploaded.id
    }

    private func metadata(key: String) -> Metadata {
        var metadata = Metadata()
        metadata.addString(key, forKey: "idempotency-key")
        if let token = self.token { metadata.addString("Bearer \(token)", forKey: "authorization") }
        return metadata
    }

    /// `pbx-` and 40 hex digits of SHA-256 over the metadata file and the audio file.
    static func key(audioPath: String, metadata: Data) throws -> String {
        var hasher = SHA256()
        hasher.update(data: SHA256.hash(data: metadata).withUnsafeBytes { Data($0) })
        guard let handle = FileHandle(forReadingAtPath: audioPath) else { throw IngestError.unreadable(audioPath) }
        defer { try? handle.close() }
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty { hasher.update(data: piece) }
        return "pbx-" + hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(40)
    }

    /// Whether an error means "try again later": the server is away, overloaded or failing
    /// (UNAVAILABLE, 5xx), or refused the token (a configuration to fix, not a bad pair).
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? RPCError else { return false }
        switch error.code {
        case .unavailable, .deadlineExceeded, .internalError, .unknown, .aborted, .unauthenticated, .cancelled: return true
        default: return false
        }
    }
}

enum IngestError: Error, CustomStringConvertible {
    case unreadable(String)

    var description: String {
        switch self {
        case .unreadable(let path): "cannot read \(path)"
        }
    }
}
