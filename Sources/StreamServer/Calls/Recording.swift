import Foundation
import GRDB

/// The container formats accepted for recordings, by content (see `AudioSniffer`).
enum AudioFileFormat: String, Codable, Sendable, DatabaseValueConvertible {
    case wav, mp3

    var contentType: String {
        switch self {
        case .wav: "audio/wav"
        case .mp3: "audio/mpeg"
        }
    }
}

/// Where a recording came from: an upload, or a live session that recorded as it streamed.
enum RecordingOrigin: String, Codable, Sendable, DatabaseValueConvertible {
    case upload, live
}

/// A silent stretch of a recording, in milliseconds from its start.
struct SilenceMark: Codable, Sendable, Equatable {
    var startMs: Int
    var endMs: Int

    enum CodingKeys: String, CodingKey {
        case startMs = "start_ms"
        case endMs = "end_ms"
    }
}

/// A row of `recordings`: one per call at most. The file lives at `storedPath` (relative to
/// the data directory, named by the recording id), byte for byte as uploaded, or as a live
/// session wrote it. A live recording has `sizeBytes` 0 and no `sha256` until its session
/// ends and the file is finalised (`isLiveUnfinished`).
struct Recording: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "recordings"

    var id: UUID
    var callID: UUID
    var filename: String
    var storedPath: String
    var format: AudioFileFormat
    var sizeBytes: Int64
    var sha256: String
    var origin: RecordingOrigin = .upload
    var durationSec: Double?
    var transcription: String?
    var silenceMarks: [SilenceMark]?
    var error: String?
    /// Analyses started for this recording; a worker crash on the file counts as one.
    var attempts: Int
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// The permanent copy's format, once it replaced the original (`storedPath` is then its).
    var archivedFormat: AudioFileFormat? = nil
    var archivedSizeBytes: Int64? = nil
    var archivedSHA256: String? = nil

    /// What a download serves: the archive once it exists, the original until then.
    var servedFormat: AudioFileFormat { self.archivedFormat ?? self.format }
    var servedSizeBytes: Int64 { self.archivedSizeBytes ?? self.sizeBytes }
    /// The download's file name: the original's, with the archive's extension once archived.
    var servedFilename: String {
        guard let archived = self.archivedFormat, archived != self.format else { return self.filename }
        let base = (self.filename as NSString).deletingPathExtension
        return (base.isEmpty ? "recording" : base) + "." + archived.rawValue
    }

    enum CodingKeys: String, CodingKey {
        case id, filename, format, sha256, transcription, error, attempts, origin
        case callID = "call_id"
        case storedPath = "stored_path"
        case sizeBytes = "size_bytes"
        case durationSec = "duration_sec"
        case silenceMarks = "silence_marks"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case archivedFormat = "archived_format"
        case archivedSizeBytes = "archived_size_bytes"
        case archivedSHA256 = "archived_sha256"
    }

    enum Columns {
        static let callID = Column(CodingKeys.callID)
    }

    /// A live session's file whose header still says nothing about its length: the session is
    /// streaming, or the server died while it was.
    var isLiveUnfinished: Bool { self.origin == .live && self.sha256.isEmpty }

    // Ids stored like `Call`'s.
    static func databaseUUIDEncodingStrategy(for column: String) -> DatabaseUUIDEncodingStrategy { .lowercaseString }
}
