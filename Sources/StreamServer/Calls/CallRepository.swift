import Foundation
import Protocol
import RequestParsing

/// Where calls and recordings are kept. SQLite (`SQLiteCallRepository`) today; a PostgreSQL
/// implementation can follow behind the same protocol.
protocol CallRepository: Sendable {
    func create(_ call: Call) async throws
    func find(id: UUID) async throws -> CallWithRecording?
    /// Applies `patch` to the call; throws `notFound`.
    func update(callID: UUID, _ patch: CallPatch) async throws -> CallWithRecording
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
    /// `joiningExternalID`: a call without a recording that already has `newCall`'s
    /// `external_id` (made beforehand with `POST /calls`) takes the recording instead.
    /// Throws like `attach`.
    func beginLive(_ recording: Recording, newCall: Call?, joiningExternalID: Bool) async throws -> CallWithRecording
    /// The live recording's file is final: stores its size and hash.
    func finishLive(recordingID: UUID, sizeBytes: Int64, sha256: String) async throws
    /// Stores transcript segments (a segment stored again replaces the first).
    func save(_ segments: [TranscriptSegment]) async throws
    /// A call's stored segments in seq order.
    func segments(callID: UUID) async throws -> [TranscriptSegment]
    /// The seqs of a call's segments that contain any of `words`.
    func matchingSegments(callID: UUID, words: SpokenWords) async throws -> Set<Int64>
    /// Recordings by their call's status (`processing`, `ready`, `failed`), for `/metrics`.
    func recordingCounts() async throws -> [String: Int]

    /// Deletes a call, its recording row and its transcript in one transaction, and queues its
    /// file for removal (`fileDeletions`). Returns the file's path; throws `notFound`.
    func delete(callID: UUID) async throws -> String?
    /// Files queued for removal and not yet forgotten.
    func fileDeletions() async throws -> [String]
    func forgetFileDeletion(_ storedPath: String) async throws
    /// Up to `limit` ids of calls that started before `date`, oldest first.
    func calls(startedBefore date: Timestamp, limit: Int) async throws -> [UUID]

    /// Claims `key` for a request about to run, unless an answer younger than `since` or
    /// another request in progress holds it.
    func reserveIdempotencyKey(_ key: String, since: Timestamp) async throws -> IdempotencyReservation
    /// The reserved request's answer, kept for retries.
    func completeIdempotencyKey(_ key: String, answer: StoredAnswer) async throws
    /// The reserved request failed (5xx, or the client went away): the key is free again.
    func releaseIdempotencyKey(_ key: String) async throws
    /// Forgets answers older than `date`, and with `reservations` every reservation (at start,
    /// no request is in progress); returns how many rows went.
    func forgetIdempotencyKeys(before date: Timestamp, reservations: Bool) async throws -> Int
}

enum IdempotencyReservation: Sendable, Equatable {
    case reserved
    case inProgress
    case answered(StoredAnswer)
}

/// A response kept for an `Idempotency-Key`, with the hash of the request it answered.
struct StoredAnswer: Sendable, Equatable {
    var requestHash: String
    var status: Int
    var contentType: String
    var body: Data
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
    /// A real engine's segments of the whole recording; they replace the call's stored
    /// transcript (a live session's finals). Empty with the mock engine.
    var segments: [RecognizedSegment] = []
    /// The permanent copy the worker wrote: it replaces the original file.
    var archive: Archive?

    struct Archive: Sendable, Equatable {
        var storedPath: String
        var format: AudioFileFormat
        var sizeBytes: Int64
        var sha256: String
    }
}
