import Foundation

/// Where calls and recordings are kept. SQLite (`SQLiteCallRepository`) today; a PostgreSQL
/// implementation can follow behind the same protocol.
protocol CallRepository: Sendable {
    func create(_ call: Call) async throws
    func find(id: UUID) async throws -> CallWithRecording?
    func search(_ search: CallSearch) async throws -> CallPage
    /// Adds a call's recording and moves the call to `processing`. Throws `conflict` when the
    /// call has one already and `notFound` when the call does not exist.
    func attach(_ recording: Recording) async throws -> CallWithRecording
    func find(recordingID: UUID) async throws -> Recording?
    /// Counts an analysis attempt; returns the attempt number.
    func beginAnalysis(recordingID: UUID) async throws -> Int
    /// Stores an analysis and moves the call to `ready`.
    func complete(recordingID: UUID, analysis: RecordingAnalysis) async throws
    /// Keeps the error and moves the call to `failed`.
    func fail(recordingID: UUID, error: String) async throws
    /// Recordings whose calls are `processing`: analysis owed (after a restart, too).
    func pendingRecordings() async throws -> [Recording]
    /// A live session that records: creates `newCall` (when given) and attaches its
    /// recording in one transaction; the call is `processing` while the session lasts.
    /// Throws like `attach`.
    func beginLive(_ recording: Recording, newCall: Call?) async throws -> CallWithRecording
    /// The live recording's file is final: stores its size and hash.
    func finishLive(recordingID: UUID, sizeBytes: Int64, sha256: String) async throws
    /// Stores transcript segments (a segment stored again replaces the first).
    func save(_ segments: [TranscriptSegment]) async throws
    /// A call's stored segments in seq order.
    func segments(callID: UUID) async throws -> [TranscriptSegment]
    /// Recordings by their call's status (`processing`, `ready`, `failed`), for `/metrics`.
    func recordingCounts() async throws -> [String: Int]
}

enum CallRepositoryError: Error, Equatable {
    case notFound
    case conflict
}

/// What the analysis of a recording found.
struct RecordingAnalysis: Sendable, Equatable {
    var durationSec: Double
    var silenceMarks: [SilenceMark]
    var transcription: String
}
