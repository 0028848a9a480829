import Foundation
import GRDB

extension SQLiteCallRepository {
    func delete(callID: UUID) async throws -> String? {
        try await self.database.write { db in
            let id = callID.uuidString.lowercased()
            guard try Call.fetchOne(db, key: id) != nil else { throw CallRepositoryError.notFound }
            let storedPath = try String.fetchOne(db, sql: "SELECT stored_path FROM recordings WHERE call_id = ?", arguments: [id])
            if let storedPath {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO file_deletions (stored_path, queued_at) VALUES (?, ?)",
                    arguments: [storedPath, Timestamp.now.milliseconds]
                )
            }
            // The recording row and the transcript segments go with it (ON DELETE CASCADE).
            try db.execute(sql: "DELETE FROM calls WHERE id = ?", arguments: [id])
            return storedPath
        }
    }

    func fileDeletions() async throws -> [String] {
        try await self.database.read { db in try String.fetchAll(db, sql: "SELECT stored_path FROM file_deletions ORDER BY queued_at") }
    }

    func forgetFileDeletion(_ storedPath: String) async throws {
        try await self.database.write { db in
            try db.execute(sql: "DELETE FROM file_deletions WHERE stored_path = ?", arguments: [storedPath])
        }
    }

    func calls(startedBefore date: Timestamp, limit: Int) async throws -> [UUID] {
        try await self.database.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM calls WHERE started_at < ? ORDER BY started_at LIMIT ?",
                arguments: [date.milliseconds, limit]
            ).compactMap(UUID.init(uuidString:))
        }
    }
}
