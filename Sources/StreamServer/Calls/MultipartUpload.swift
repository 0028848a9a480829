import Foundation
import Hummingbird
import MultipartKit
import NIOCore

/// Streams the `file` field of a `multipart/form-data` body into an `UploadFile`: parts are
/// parsed as bytes arrive (multipart-kit's incremental parser), file bytes go to disk in
/// batches, and nothing else of size is kept. Other fields are ignored.
struct MultipartUpload {
    /// What came in: the client's file name and the file, complete.
    struct Received {
        var filename: String
    }

    let maxBytes: Int64
    let allowedExtensions: Set<String>

    func receive(body: RequestBody, contentType: String?, into file: UploadFile) async throws -> Received {
        guard let contentType, let boundary = Self.boundary(contentType) else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the file as multipart/form-data with a field named file")
        }
        let parser = MultipartParser(boundary: boundary)
        var headers: [String: String] = [:]
        var inFile = false
        var fileComplete = false
        var filename: String?
        var failure: APIError?
        var pending: [ByteBuffer] = []

        parser.onHeader = { name, value in headers[name.lowercased()] = value }
        parser.onBody = { chunk in
            if !inFile, filename == nil, failure == nil {
                // The first bytes of a part: is it the file?
                let disposition = Self.dispositionParameters(headers["content-disposition"] ?? "")
                if disposition["name"] == "file" {
                    let name = disposition["filename"] ?? ""
                    let ext = (name as NSString).pathExtension.lowercased()
                    if self.allowedExtensions.contains(ext) {
                        filename = name
                        inFile = true
                    } else {
                        failure = APIError(.unprocessableContent, code: "unsupported_extension", message: "the file must be .wav or .mp3")
                    }
                }
            }
            if inFile { pending.append(chunk) }
        }
        parser.onPartComplete = {
            if inFile {
                inFile = false
                fileComplete = true
            }
            headers = [:]
        }

        for try await buffer in body {
            do {
                try parser.execute(buffer)
            } catch {
                throw APIError(.badRequest, code: "invalid_multipart", message: "the multipart body is malformed")
            }
            if let failure { throw failure }
            for chunk in pending {
                try await file.append(chunk)
            }
            pending.removeAll(keepingCapacity: true)
            if file.size > self.maxBytes {
                throw APIError(.contentTooLarge, code: "upload_too_large", message: "the file is larger than \(self.maxBytes) bytes")
            }
        }
        guard let filename else {
            throw APIError(.unprocessableContent, code: "missing_file", message: "the form has no field named file with a file name")
        }
        guard fileComplete else {
            throw APIError(.badRequest, code: "invalid_multipart", message: "the multipart body ended before the file did")
        }
        return Received(filename: filename)
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
