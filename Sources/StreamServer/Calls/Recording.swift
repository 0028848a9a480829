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
/// the data directory, named by the recording id), byte for byte as uploaded.
struct Recording: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "recordings"

    var id: UUID
    var callID: UUID
    var filename: String
    var storedPath: String
    var format: AudioFileFormat
    var sizeBytes: Int64
    var sha256: String
    var durationSec: Double?
    var transcription: String?
    var silenceMarks: [SilenceMark]?
    var error: String?
    /// Analyses started for this recording; a worker crash on the file counts as one.
    var attempts: Int
    var createdAt: Timestamp
    var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case id, filename, format, sha256, transcription, error, attempts
        case callID = "call_id"
        case storedPath = "stored_path"
        case sizeBytes = "size_bytes"
        case durationSec = "duration_sec"
        case silenceMarks = "silence_marks"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    enum Columns {
        static let callID = Column(CodingKeys.callID)
    }

    // Ids stored like `Call`'s.
    static func databaseUUIDEncodingStrategy(for column: String) -> DatabaseUUIDEncodingStrategy { .lowercaseString }
}
