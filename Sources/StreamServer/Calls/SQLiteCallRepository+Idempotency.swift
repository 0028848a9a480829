import Foundation
import GRDB

/// `idempotency_keys` rows: a reservation has status 0 and no body until its request answers.
extension SQLiteCallRepository {
    func reserveIdempotencyKey(_ key: String, since: Timestamp) async throws -> IdempotencyReservation {
        try await self.database.write { db in
            if let row = try Row.fetchOne(
                db,
                sql: "SELECT request_hash, status, content_type, body FROM idempotency_keys WHERE key = ? AND created_at >= ?",
                arguments: [key, since.milliseconds]
            ) {
                let status: Int = row[1]
                guard status != 0 else { return .inProgress }
                return .answered(StoredAnswer(requestHash: row[0], status: status, contentType: row[2], body: row[3]))
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO idempotency_keys (key, request_hash, status, content_type, body, created_at)
                    VALUES (?, '', 0, '', x'', ?)
                    """,
                arguments: [key, Timestamp.now.milliseconds]
            )
            return .reserved
        }
    }

    func completeIdempotencyKey(_ key: String, answer: StoredAnswer) async throws {
        try await self.database.write { db in
            try db.execute(
                sql: "UPDATE idempotency_keys SET request_hash = ?, status = ?, content_type = ?, body = ?, created_at = ? WHERE key = ?",
                arguments: [answer.requestHash, answer.status, answer.contentType, answer.body, Timestamp.now.milliseconds, key]
            )
        }
    }

    func releaseIdempotencyKey(_ key: String) async throws {
        try await self.database.write { db in
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE key = ? AND status = 0", arguments: [key])
        }
    }

    func forgetIdempotencyKeys(before date: Timestamp, reservations: Bool) async throws -> Int {
        try await self.database.write { db in
            try db.execute(
                sql: "DELETE FROM idempotency_keys WHERE created_at < ? OR (? AND status = 0)",
                arguments: [date.milliseconds, reservations]
            )
            return db.changesCount
        }
    }
}
