import Foundation
import Hummingbird
import HTTPMultipart
import NIOCore

/// Streams the `file` field of a `multipart/form-data` body into an `UploadFile`: parts are
/// parsed as bytes arrive (`MultipartReader`), file bytes go to disk in batches, and
/// nothing else of size is kept. Other fields are ignored.
struct MultipartUpload {
    /// What came in: the client's file name and the file, complete.
    struct Received {
        var filename: String
    }

    let maxBytes: Int64
    /// Called as the file arrives with its first bytes (up to `openingBytes`) and its size so
    /// far; throwing stops the upload there (a recording found too long, say).
    var check: ((_ opening: [UInt8], _ size: Int64) throws -> Void)? = nil
    static let openingBytes = 4096

    func receive(body: RequestBody, contentType: String?, into file: UploadFile) async throws -> Received {
        guard let contentType, let boundary = Self.boundary(contentType) else {
            throw APIError(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "send the file as multipart/form-data with a field named file"
            )
        }
        var reader = MultipartReader(boundary: boundary)
        var filename: String?
        var inFile = false
        var fileComplete = false
        var pending: [ByteBuffer] = []
        var bodyBytes: Int64 = 0
        var opening: [UInt8] = []

        for try await buffer in body {
            // Fields other than the file are skipped, not stored, but still bounded.
            bodyBytes += Int64(buffer.readableBytes)
            if bodyBytes > self.maxBytes + Self.formOverheadBytes {
                throw Self.tooLarge(self.maxBytes)
            }
            do {
                try reader.feed(buffer) { event in
                    switch event {
                    case .headers(let headers):
                        // Only the first part named `file` counts; other fields are ignored.
                        let disposition = Self.dispositionParameters(headers["content-disposition"] ?? "")
                        guard filename == nil, disposition["name"] == "file" else { return }
                        let name = disposition["filename"] ?? ""
                        try Self.checkExtension(of: name)
                        filename = name
                        inFile = true
                    case .body(let bytes):
                        if inFile { pending.append(bytes) }
                    case .partEnd:
                        if inFile {
                            inFile = false
                            fileComplete = true
                        }
                    }
                }
            } catch let error as APIError {
                throw error
            } catch {
                throw APIError(.badRequest, code: "invalid_multipart", message: "the multipart body is malformed")
            }
            for chunk in pending {
                if opening.count < Self.openingBytes {
                    opening += chunk.getBytes(at: chunk.readerIndex, length: min(chunk.readableBytes, Self.openingBytes - opening.count)) ?? []
                }
                try await file.append(chunk)
            }
            if !pending.isEmpty { try self.check?(opening, file.size) }
            pending.removeAll(keepingCapacity: true)
            if file.size > self.maxBytes {
                throw Self.tooLarge(self.maxBytes)
            }
        }
        guard let filename else {
            throw APIError(.unprocessableContent, code: "missing_file", message: "the form has no field named file with a file name")
        }
        guard fileComplete, reader.isComplete else {
            throw APIError(.badRequest, code: "invalid_multipart", message: "the multipart body ended before its closing boundary")
        }
        return Received(filename: filename)
    }

    /// What a form may carry beyond the file itself: part headers, boundaries, small fields.
    static let formOverheadBytes: Int64 = 64 * 1024

    /// A recording is uploaded (over REST or gRPC) as a file named `.wav` or `.mp3`.
    static func checkExtension(of filename: String) throws {
        guard ["wav", "mp3"].contains((filename as NSString).pathExtension.lowercased()) else {
            throw APIError(.unprocessableContent, code: "unsupported_extension", message: "the file must be .wav or .mp3")
        }
    }

    static func tooLarge(_ maxBytes: Int64) -> APIError {
        APIError(.contentTooLarge, code: "upload_too_large", message: "the file is larger than \(maxBytes) bytes")
    }

    /// The boundary of a `multipart/form-data` content type.
    static func boundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            let value = part.dropFirst("boundary=".count)
            let boundary = value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 ? String(value.dropFirst().dropLast()) : String(value)
            return boundary.isEmpty ? nil : boundary
        }
        return nil
    }

    /// `form-data; name="file"; filename="a.wav"` → ["name": "file", "filename": "a.wav"].
    static func dispositionParameters(_ header: String) -> [String: String] {
        var parameters: [String: String] = [:]
        for part in header.split(separator: ";").dropFirst() {
            guard let equals = part.firstIndex(of: "=") else { continue }
            let key = part[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            }
            parameters[key] = value
        }
        return parameters
    }
}
