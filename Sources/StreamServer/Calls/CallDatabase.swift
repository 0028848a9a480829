import Foundation
import GRDB

/// The SQLite file under `--data-dir` (`callstream.sqlite`): a WAL-mode `DatabasePool` (one
/// writer, concurrent readers) and the schema's migrations.
enum CallDatabase {
    static func open(directory: URL) throws -> DatabasePool {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Writers wait for each other instead of failing with SQLITE_BUSY.
        configuration.busyMode = .timeout(10)
        // GRDB's default, .userInitiated, is nice -2 on Linux: its queues' threads (every
        // session start's rows, at 1,000 starts a second) outranked the event loops that carry
        // the live chunks. At .utility (nice 2) the loops go first.
        configuration.qos = .utility
        // Live calls' transcript segments land all over the segment index; a 32 MiB page cache
        // (SQLite's default is 2 MiB) keeps those pages in memory instead of re-reading them.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -32768") }
        let pool = try DatabasePool(path: directory.appendingPathComponent("callstream.sqlite").path, configuration: configuration)
        try Self.migrator.migrate(pool)
        return pool
    }

    /// Named, append-only migrations: never edit one that has shipped; add the next.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: calls and recordings") { db in
            try db.execute(
                sql: """
                    CREATE TABLE calls (
                        id TEXT PRIMARY KEY NOT NULL,
                        caller TEXT NOT NULL,
                        receiver TEXT NOT NULL,
                        started_at INTEGER NOT NULL,
                        status TEXT NOT NULL CHECK (status IN ('created', 'processing', 'ready', 'failed')),
                        private INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    -- Listing is newest first; every filter can walk one of these in that order.
                    CREATE INDEX calls_by_started_at ON calls (started_at, id);
                    CREATE INDEX calls_by_caller ON calls (caller, started_at);
                    CREATE INDEX calls_by_receiver ON calls (receiver, started_at);
                    CREATE INDEX calls_by_status ON calls (status, started_at);

                    -- Substring search over both numbers: trigram full-text index kept in step
                    -- with calls by triggers (queries of 3+ characters use it).
                    CREATE VIRTUAL TABLE calls_numbers USING fts5(
                        caller, receiver, content = 'calls', content_rowid = 'rowid', tokenize = 'trigram'
                    );
                    CREATE TRIGGER calls_numbers_insert AFTER INSERT ON calls BEGIN
                        INSERT INTO calls_numbers (rowid, caller, receiver) VALUES (new.rowid, new.caller, new.receiver);
                    END;
                    CREATE TRIGGER calls_numbers_delete AFTER DELETE ON calls BEGIN
                        INSERT INTO calls_numbers (calls_numbers, rowid, caller, receiver) VALUES ('delete', old.rowid, old.caller, old.receiver);
                    END;
                    CREATE TRIGGER calls_numbers_update AFTER UPDATE OF caller, receiver ON calls BEGIN
                        INSERT INTO calls_numbers (calls_numbers, rowid, caller, receiver) VALUES ('delete', old.rowid, old.caller, old.receiver);
                        INSERT INTO calls_numbers (rowid, caller, receiver) VALUES (new.rowid, new.caller, new.receiver);
                    END;

                    CREATE TABLE recordings (
                        id TEXT PRIMARY KEY NOT NULL,
                        call_id TEXT NOT NULL UNIQUE REFERENCES calls (id) ON DELETE CASCADE,
                        filename TEXT NOT NULL,
                        stored_path TEXT NOT NULL,
                        format TEXT NOT NULL CHECK (format IN ('wav', 'mp3')),
                        size_bytes INTEGER NOT NULL,
                        sha256 TEXT NOT NULL,
                        duration_sec REAL,
                        transcription TEXT,
                        silence_marks TEXT,
                        error TEXT,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2: live recordings and transcripts") { db in
            try db.execute(
                sql: """
                    ALTER TABLE recordings ADD COLUMN origin TEXT NOT NULL DEFAULT 'upload' CHECK (origin IN ('upload', 'live'));
                    -- A call's transcript: one segment per live chunk, in seq order. A rowid
                    -- table: a thousand live calls' segments append at its end, and only the
                    -- small (call_id, seq) index entries land all over the file.
                    CREATE TABLE transcript_segments (
                        id INTEGER PRIMARY KEY,
                        call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        start_ms INTEGER NOT NULL,
                        end_ms INTEGER NOT NULL,
                        text TEXT NOT NULL,
                        UNIQUE (call_id, seq)
                    );
                    """
            )
        }
        migrator.registerMigration("v3: deletions and idempotency keys") { db in
            try db.execute(
                sql: """
                    -- Recording files whose rows are gone: removed from disk, then forgotten. A crash
                    -- in between leaves the path here, and the next start removes the file.
                    CREATE TABLE file_deletions (
                        stored_path TEXT PRIMARY KEY NOT NULL,
                        queued_at INTEGER NOT NULL
                    );
                    -- The first answer to each Idempotency-Key, kept 24 hours.
                    CREATE TABLE idempotency_keys (
                        key TEXT PRIMARY KEY NOT NULL,
                        request_hash TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        content_type TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
                    """
            )
        }
        migrator.registerMigration("v4: recognised segments and search by what was said") { db in
            try db.execute(
                sql: """
                    -- A real engine's segments: which channel (call leg) and the words' times.
                    ALTER TABLE transcript_segments ADD COLUMN channel INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE transcript_segments ADD COLUMN words TEXT;
                    -- What was said, for GET /calls?text=: a full-text index over the segments'
                    -- text (unicode61: case and accents folded), kept in step by triggers.
                    CREATE VIRTUAL TABLE transcript_text USING fts5(
                        text, content = 'transcript_segments', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
                    );
                    INSERT INTO transcript_text (rowid, text) SELECT id, text FROM transcript_segments;
                    CREATE TRIGGER transcript_text_insert AFTER INSERT ON transcript_segments BEGIN
                        INSERT INTO transcript_text (rowid, text) VALUES (new.id, new.text);
                    END;
                    CREATE TRIGGER transcript_text_delete AFTER DELETE ON transcript_segments BEGIN
                        INSERT INTO transcript_text (transcript_text, rowid, text) VALUES ('delete', old.id, old.text);
                    END;
                    CREATE TRIGGER transcript_text_update AFTER UPDATE OF text ON transcript_segments BEGIN
                        INSERT INTO transcript_text (transcript_text, rowid, text) VALUES ('delete', old.id, old.text);
                        INSERT INTO transcript_text (rowid, text) VALUES (new.id, new.text);
                    END;
                    """
            )
        }
        migrator.registerMigration("v5: external ids") { db in
            try db.execute(
                sql: """
                    -- The telephony system's own id for a call (Twilio's CallSid, Asterisk's channel
                    -- UUID), for GET /calls?external_id= and for matching ingress to a call.
                    ALTER TABLE calls ADD COLUMN external_id TEXT;
                    CREATE INDEX calls_by_external_id ON calls (external_id, started_at) WHERE external_id IS NOT NULL;
                    """
            )
        }
        migrator.registerMigration("v6: archived recordings") { db in
            try db.execute(
                sql: """
                    -- The permanent copy (--archive-format mp3): once written, stored_path names it and the
                    -- original is gone; size_bytes and sha256 stay the original's.
                    ALTER TABLE recordings ADD COLUMN archived_format TEXT;
                    ALTER TABLE recordings ADD COLUMN archived_size_bytes INTEGER;
                    ALTER TABLE recordings ADD COLUMN archived_sha256 TEXT;
                    """
            )
        }
        migrator.registerMigration("v7: segments indexed in batches") { db in
            try db.execute(
                sql: """
                    -- The repository indexes inserted segments itself, one statement a batch (see
                    -- SQLiteCallRepository.indexingNewSegments); the delete and update triggers stay.
                    -- The rebuild also drops entries that INSERT OR REPLACE left for replaced rows.
                    DROP TRIGGER transcript_text_insert;
                    INSERT INTO transcript_text (transcript_text) VALUES ('rebuild');
                    """
            )
        }
        migrator.registerMigration("v8: segments refer to calls by a compact key") { db in
            try db.execute(
                sql: """
                    -- Each call gets a small integer (ref) for its transcript segments to refer to:
                    -- a live call stores a segment every 100 ms, and keyed by the 36-character id
                    -- their (call, seq) index was most of the table's size and of each flush's work.
                    ALTER TABLE calls ADD COLUMN ref INTEGER;
                    UPDATE calls SET ref = rowid;
                    CREATE UNIQUE INDEX calls_by_ref ON calls (ref);
                    CREATE TRIGGER calls_ref AFTER INSERT ON calls WHEN new.ref IS NULL BEGIN
                        UPDATE calls SET ref = (SELECT COALESCE(MAX(ref), 0) + 1 FROM calls) WHERE id = new.id;
                    END;
                    CREATE TABLE transcript_segments_by_ref (
                        id INTEGER PRIMARY KEY,
                        call_ref INTEGER NOT NULL REFERENCES calls (ref) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        start_ms INTEGER NOT NULL,
                        end_ms INTEGER NOT NULL,
                        text TEXT NOT NULL,
                        channel INTEGER NOT NULL DEFAULT 0,
                        words TEXT,
                        UNIQUE (call_ref, seq)
                    );
                    INSERT INTO transcript_segments_by_ref (id, call_ref, seq, start_ms, end_ms, text, channel, words)
                        SELECT segments.id, calls.ref, segments.seq, segments.start_ms, segments.end_ms, segments.text,
                            segments.channel, segments.words
                        FROM transcript_segments AS segments JOIN calls ON calls.id = segments.call_id;
                    -- Same ids: the full-text index (its content is this table) stays as it is.
                    DROP TABLE transcript_segments;
                    ALTER TABLE transcript_segments_by_ref RENAME TO transcript_segments;
                    CREATE TRIGGER transcript_text_delete AFTER DELETE ON transcript_segments BEGIN
                        INSERT INTO transcript_text (transcript_text, rowid, text) VALUES ('delete', old.id, old.text);
                    END;
                    CREATE TRIGGER transcript_text_update AFTER UPDATE OF text ON transcript_segments BEGIN
                        INSERT INTO transcript_text (transcript_text, rowid, text) VALUES ('delete', old.id, old.text);
                        INSERT INTO transcript_text (rowid, text) VALUES (new.id, new.text);
                    END;
                    """
            )
        }
        return migrator
    }
}
