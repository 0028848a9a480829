import Foundation
import GRDB
import RequestParsing

/// `CallRepository` on the SQLite file (GRDB `DatabasePool`: WAL, one writer, many readers).
/// Every value from a request is bound as an SQL parameter.
struct SQLiteCallRepository: CallRepository {
    let database: DatabasePool
    /// Live sessions' starts and ends, many at once when many calls start or end together:
    /// they share transactions. (The analyses' bookkeeping is one write at a time anyway.)
    private let sessionWrites: GroupedWrites

    init(database: DatabasePool) {
        self.database = database
        self.sessionWrites = GroupedWrites(database: database)
    }

    func create(_ call: Call) async throws {
        try await self.database.write { db in try call.insert(db) }
    }

    func find(id: UUID) async throws -> CallWithRecording? {
        try await self.database.read { db in
            guard let call = try Call.fetchOne(db, key: id.uuidString.lowercased()) else { return nil }
            let recording = try Recording.filter(Recording.Columns.callID == id.uuidString.lowercased()).fetchOne(db)
            return CallWithRecording(call: call, recording: recording)
        }
    }

    func update(callID: UUID, _ patch: CallPatch) async throws -> CallWithRecording {
        try await self.database.write { db in
            let key = callID.uuidString.lowercased()
            guard var call = try Call.fetchOne(db, key: key) else { throw CallRepositoryError.notFound }
            call.caller = patch.caller ?? call.caller
            call.receiver = patch.receiver ?? call.receiver
            call.isPrivate = patch.isPrivate ?? call.isPrivate
            call.updatedAt = .now
            try call.update(db)
            return CallWithRecording(call: call, recording: try Recording.filter(Recording.Columns.callID == key).fetchOne(db))
        }
    }

    func find(recordingID: UUID) async throws -> Recording? {
        try await self.database.read { db in try Recording.fetchOne(db, key: recordingID.uuidString.lowercased()) }
    }

    func search(_ search: CallSearch) async throws -> CallPage {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if let fragment = search.fragment {
            if fragment.count >= 3 {
                // A quoted FTS5 phrase: with the trigram tokenizer it matches any substring.
                conditions.append("calls.rowid IN (SELECT rowid FROM calls_numbers WHERE calls_numbers MATCH ?)")
                arguments += ["\"" + fragment.replacingOccurrences(of: "\"", with: "\"\"") + "\""]
            } else {
                // Too short for trigrams: a scan.
                let pattern = "%" + Self.escapeLike(fragment) + "%"
                conditions.append(#"(caller LIKE ? ESCAPE '\' OR receiver LIKE ? ESCAPE '\')"#)
                arguments += [pattern, pattern]
            }
        }
        if let phone = search.phone {
            conditions.append("(caller = ? OR receiver = ?)")
            arguments += [phone, phone]
        }
        if let from = search.from {
            conditions.append("started_at >= ?")
            arguments += [Timestamp(from).milliseconds]
        }
        if let to = search.to {
            conditions.append("started_at < ?")
            arguments += [Timestamp(to).milliseconds]
        }
        if let status = search.status {
            conditions.append("status = ?")
            arguments += [status.rawValue]
        }
        if let externalID = search.externalID {
            conditions.append("external_id = ?")
            arguments += [externalID]
        }
        var join = ""
        var order = "started_at DESC, id DESC"
        var joinArguments = StatementArguments()
        if let text = search.text {
            // Every word somewhere in the call's transcript; ranked by its best-matching segment
            // (bm25 over any of the words). A private call's transcript is never searched.
            conditions.append("calls.private = 0")
            for word in text.words {
                conditions.append(
                    "calls.ref IN (SELECT call_ref FROM transcript_segments WHERE id IN (SELECT rowid FROM transcript_text WHERE transcript_text MATCH ?))"
                )
                arguments += [SpokenWords.term(word)]
            }
            join = """
                JOIN (SELECT transcript_segments.call_ref AS call_ref, MIN(transcript_text.rank) AS rank
                      FROM transcript_text JOIN transcript_segments ON transcript_segments.id = transcript_text.rowid
                      WHERE transcript_text MATCH ? GROUP BY transcript_segments.call_ref) AS hits ON hits.call_ref = calls.ref
                """
            joinArguments += [text.anyQuery]
            order = "hits.rank, started_at DESC, id DESC"
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let filterArguments = arguments
        let pageArguments = joinArguments + arguments + [search.limit, search.offset]
        let pageSQL = "SELECT calls.* FROM calls \(join) \(whereClause) ORDER BY \(order) LIMIT ? OFFSET ?"
        return try await self.database.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM calls \(whereClause)", arguments: filterArguments) ?? 0
            let calls = try Call.fetchAll(
                db,
                sql: pageSQL,
                arguments: pageArguments
            )
            let ids = calls.map { $0.id.uuidString.lowercased() }
            let recordings = try Recording.filter(ids.contains(Recording.Columns.callID)).fetchAll(db)
            let byCall = Dictionary(recordings.map { ($0.callID, $0) }, uniquingKeysWith: { first, _ in first })
            return CallPage(total: total, items: calls.map { CallWithRecording(call: $0, recording: byCall[$0.id]) })
        }
    }

    func attach(_ recording: Recording) async throws -> CallWithRecording {
        try await self.database.write { db in try Self.attach(db, recording) }
    }

    /// The recording's row, for its call (which must exist and have none yet); the call is
    /// `processing` from now on.
    private static func attach(_ db: Database, _ recording: Recording) throws -> CallWithRecording {
        guard var call = try Call.fetchOne(db, key: recording.callID.uuidString.lowercased()) else {
            throw CallRepositoryError.notFound
        }
        if try Recording.filter(Recording.Columns.callID == recording.callID.uuidString.lowercased()).fetchCount(db) > 0 {
            throw CallRepositoryError.conflict
        }
        try recording.insert(db)
        call.status = .processing
        call.updatedAt = recording.createdAt
        try call.update(db)
        return CallWithRecording(call: call, recording: recording)
    }

    func beginAnalysis(recordingID: UUID) async throws -> Int {
        try await self.database.write { db in
            guard var recording = try Recording.fetchOne(db, key: recordingID.uuidString.lowercased()) else {
                throw CallRepositoryError.notFound
            }
            recording.attempts += 1
            recording.updatedAt = .now
            try recording.update(db)
            return recording.attempts
        }
    }

    func complete(recordingID: UUID, analysis: RecordingAnalysis) async throws {
        try await self.finish(recordingID: recordingID, status: .ready) { recording in
            recording.durationSec = analysis.durationSec
            recording.silenceMarks = analysis.silenceMarks
            recording.transcription = analysis.transcription
            recording.error = nil
            if let archive = analysis.archive {
                recording.storedPath = archive.storedPath
                recording.archivedFormat = archive.format
                recording.archivedSizeBytes = archive.sizeBytes
                recording.archivedSHA256 = archive.sha256
            }
        } alongside: { db, recording in
            guard !analysis.segments.isEmpty else { return }
            // The whole recording's transcript replaces what the live session stored.
            let callID = recording.callID
            guard let ref = try Self.refs(db, of: [callID])[callID] else { return }
            try db.execute(sql: "DELETE FROM transcript_segments WHERE call_ref = ?", arguments: [ref])
            let segments = analysis.segments.enumerated().map { TranscriptSegment(callID: callID, seq: Int64($0.offset + 1), segment: $0.element) }
            try Self.insertIndexed(db, segments)
        }
    }

    func fail(recordingID: UUID, error: String) async throws {
        try await self.finish(recordingID: recordingID, status: .failed) { recording in
            recording.error = error
        }
    }

    func pendingRecordings() async throws -> [Recording] {
        try await self.database.read { db in
            try Recording.fetchAll(
                db,
                sql:
                    "SELECT recordings.* FROM recordings JOIN calls ON calls.id = recordings.call_id WHERE calls.status = ? ORDER BY recordings.created_at",
                arguments: [CallStatus.processing.rawValue]
            )
        }
    }

    func beginLive(_ recording: Recording, newCall: Call?, joiningExternalID: Bool) async throws -> CallWithRecording {
        try await self.sessionWrites.write { db in
            guard let newCall else { return try Self.attach(db, recording) }
            if joiningExternalID, let externalID = newCall.externalID,
                var call = try Call.fetchOne(
                    db,
                    sql: """
                        SELECT * FROM calls WHERE external_id = ? AND NOT EXISTS (SELECT 1 FROM recordings WHERE recordings.call_id = calls.id)
                        ORDER BY started_at DESC LIMIT 1
                        """,
                    arguments: [externalID]
                )
            {
                var recording = recording
                recording.callID = call.id
                recording.filename = "live-\(call.id.uuidString.lowercased()).wav"
                call.status = .processing
                call.updatedAt = recording.createdAt
                try call.update(db)
                try recording.insert(db)
                return CallWithRecording(call: call, recording: recording)
            }
            var call = newCall
            call.status = .processing
            try call.insert(db)
            try recording.insert(db)
            return CallWithRecording(call: call, recording: recording)
        }
    }

    func finishLive(recordingID: UUID, sizeBytes: Int64, sha256: String) async throws {
        try await self.sessionWrites.write { db in
            guard var recording = try Recording.fetchOne(db, key: recordingID.uuidString.lowercased()) else {
                throw CallRepositoryError.notFound
            }
            recording.sizeBytes = sizeBytes
            recording.sha256 = sha256
            recording.updatedAt = .now
            try recording.update(db)
        }
    }

    func save(_ segments: [TranscriptSegment]) async throws {
        guard !segments.isEmpty else { return }
        // On the low-priority thread: the synchronous write runs the batch there.
        try await BackgroundThreads.segments.runIfActive { try self.insert(segments) }
    }

    private func insert(_ segments: [TranscriptSegment]) throws {
        // Without the foreign key's check: `insertIndexed` stores only segments of calls it has
        // just looked up, in the same transaction, so the check (a lookup in the calls' ref
        // index a row: a sixth of a 10,000-row batch's time) could never fail.
        try self.database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
            try db.inTransaction {
                try Self.insertIndexed(db, segments)
                return .commit
            }
        }
    }

    /// Stores segments and adds them to the full-text index. A segment stored again (a
    /// replacement worker's final) is updated in place: its update trigger re-indexes it. The
    /// segments of a call that is gone (deleted while live) are dropped.
    ///
    /// The index gets the inserted rows in one statement at the end. (No per-row trigger: FTS5
    /// flushes its pending terms at every statement's savepoint, so a trigger wrote one tiny
    /// index segment a row, and merged them: 19 µs a row against 2.) New rows get ids past the
    /// largest before them.
    private static func insertIndexed(_ db: Database, _ segments: [TranscriptSegment]) throws {
        let refs = try Self.refs(db, of: Set(segments.map(\.callID)))
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO transcript_segments (call_ref, seq, start_ms, end_ms, text, channel, words) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (call_ref, seq) DO UPDATE SET start_ms = excluded.start_ms, end_ms = excluded.end_ms,
                text = excluded.text, channel = excluded.channel, words = excluded.words
                """
        )
        let before = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM transcript_segments") ?? 0
        // In the (call, seq) index's order, so that consecutive rows land in the same pages (a
        // live batch comes interleaved: a row of each call in turn). Equal keys keep their order:
        // the later of two (a replacement's final) is the one stored.
        let ordered = segments.enumerated().compactMap { index, segment in refs[segment.callID].map { (ref: $0, index: index, segment: segment) } }
            .sorted { ($0.ref, $0.segment.seq, $0.index) < ($1.ref, $1.segment.seq, $1.index) }
        for (ref, _, segment) in ordered {
            try statement.execute(arguments: [ref, segment.seq, segment.startMs, segment.endMs, segment.text, segment.channel, segment.words])
        }
        try db.execute(sql: "INSERT INTO transcript_text (rowid, text) SELECT id, text FROM transcript_segments WHERE id > ?", arguments: [before])
    }

    /// The calls' compact keys (`calls.ref`, what their segments refer to), for those that exist.
    private static func refs(_ db: Database, of callIDs: some Collection<UUID>) throws -> [UUID: Int64] {
        let statement = try db.cachedStatement(sql: "SELECT ref FROM calls WHERE id = ?")
        var refs: [UUID: Int64] = [:]
        for callID in callIDs {
            if let ref = try Int64.fetchOne(statement, arguments: [callID.uuidString.lowercased()]) { refs[callID] = ref }
        }
        return refs
    }

    func matchingSegments(callID: UUID, words: SpokenWords) async throws -> Set<Int64> {
        try await self.database.read { db in
            let seqs = try Int64.fetchAll(
                db,
                sql: """
                    SELECT seq FROM transcript_segments WHERE call_ref = (SELECT ref FROM calls WHERE id = ?)
                    AND id IN (SELECT rowid FROM transcript_text WHERE transcript_text MATCH ?)
                    """,
                arguments: [callID.uuidString.lowercased(), words.anyQuery]
            )
            return Set(seqs)
        }
    }

    func segments(callID: UUID) async throws -> [TranscriptSegment] {
        try await self.database.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT seq, start_ms, end_ms, text, channel, words FROM transcript_segments
                    WHERE call_ref = (SELECT ref FROM calls WHERE id = ?) ORDER BY seq
                    """,
                arguments: [callID.uuidString.lowercased()]
            )
            return try Array(
                rows.map { row in
                    TranscriptSegment(
                        callID: callID,
                        seq: row["seq"],
                        startMs: row["start_ms"],
                        endMs: row["end_ms"],
                        text: row["text"],
                        channel: row["channel"],
                        words: row["words"]
                    )
                }
            )
        }
    }

    func recordingCounts() async throws -> [String: Int] {
        try await self.database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT calls.status, COUNT(*) FROM recordings JOIN calls ON calls.id = recordings.call_id GROUP BY calls.status"
            )
            return Dictionary(uniqueKeysWithValues: rows.map { (row: Row) in (row[0] as String, row[1] as Int) })
        }
    }

    private func finish(
        recordingID: UUID,
        status: CallStatus,
        change: @escaping @Sendable (inout Recording) -> Void,
        alongside: @escaping @Sendable (Database, Recording) throws -> Void = { _, _ in }
    ) async throws {
        try await self.database.write { db in
            guard var recording = try Recording.fetchOne(db, key: recordingID.uuidString.lowercased()),
                var call = try Call.fetchOne(db, key: recording.callID.uuidString.lowercased())
            else {
                throw CallRepositoryError.notFound
            }
            let now = Timestamp.now
            change(&recording)
            recording.updatedAt = now
            try recording.update(db)
            call.status = status
            call.updatedAt = now
            try call.update(db)
            try alongside(db, recording)
        }
    }

    private static func escapeLike(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
