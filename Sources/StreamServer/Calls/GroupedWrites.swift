import GRDB
import NIOConcurrencyHelpers

/// Writes that arrive while the database is busy share one transaction, each in a savepoint
/// of its own: one that throws is rolled back alone, and each caller gets its own result once
/// the transaction is committed (or the commit's error).
///
/// Why: at a start storm (1,000 sessions within a second) each start's two rows were a
/// transaction of their own: a commit, and every page they touched (the calls' five indexes,
/// the recordings' two) appended to the WAL again, 1,000 times a second.
final class GroupedWrites: Sendable {
    private struct Step: Sendable {
        /// Runs the write in its savepoint and keeps its outcome; returns its error, if any.
        let run: @Sendable (Database) -> (any Error)?
        /// Answers the caller: the write's outcome once committed, else the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }
    private struct Queue {
        var steps: [Step] = []
        var draining = false
    }

    private let database: DatabasePool
    private let queue = NIOLockedValueBox(Queue())

    init(database: DatabasePool) {
        self.database = database
    }

    /// Runs `body` in the next transaction, and returns its result once that is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = NIOLockedValueBox<Result<T, any Error>?>(nil)
            let step = Step(
                run: { db in
                    let result = Result<T, any Error> {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        return value!
                    }
                    outcome.withLockedValue { $0 = result }
                    if case .failure(let error) = result { return error }
                    return nil
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLockedValue { $0 } ?? .failure(CancellationError()))
                    }
                }
            )
            let startsDraining = self.queue.withLockedValue { queue -> Bool in
                queue.steps.append(step)
                defer { queue.draining = true }
                return !queue.draining
            }
            if startsDraining {
                self.database.asyncWriteWithoutTransaction { db in self.drain(db) }
            }
        }
    }

    /// On the writer's queue: a transaction for whatever is waiting, until nothing is.
    private func drain(_ db: Database) {
        while true {
            let steps = self.queue.withLockedValue { queue -> [Step] in
                defer { queue.steps = [] }
                if queue.steps.isEmpty { queue.draining = false }
                return queue.steps
            }
            guard !steps.isEmpty else { return }
            do {
                try db.inTransaction {
                    for step in steps {
                        // SQLite rolls the whole transaction back for some errors (a full disk):
                        // every step's rows went with it, so they all get that error.
                        if let error = step.run(db), !db.isInsideTransaction { throw error }
                    }
                    return .commit
                }
                for step in steps { step.finish(nil) }
            } catch {
                for step in steps { step.finish(error) }
            }
        }
    }
}
