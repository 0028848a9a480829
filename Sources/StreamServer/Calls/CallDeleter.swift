import Foundation
import Logging
import NIOPosix

/// Deletes calls for `DELETE /calls/{id}` and for retention: the rows in one transaction that
/// also queues the recording's file, then the file, then the queue entry. A crash anywhere
/// leaves either everything, or no rows and a queued file, which `finishPending` (at start)
/// removes: never an orphan file nor a row pointing at a missing one.
struct CallDeleter: Sendable {
    enum Refusal: Error {
        case notFound
        /// A live session is recording the call.
        case live
    }

    let repository: any CallRepository
    let files: RecordingFiles
    let sessions: LiveSessions

    func delete(_ callID: UUID) async throws {
        guard !self.sessions.isLive(callID: callID) else { throw Refusal.live }
        let storedPath: String?
        do {
            storedPath = try await self.repository.delete(callID: callID)
        } catch CallRepositoryError.notFound {
            throw Refusal.notFound
        }
        if let storedPath { try await self.remove(storedPath) }
    }

    /// Removes the files a previous run queued and did not get to.
    func finishPending(logger: Logger) async {
        do {
            let pending = try await self.repository.fileDeletions()
            for storedPath in pending { try await self.remove(storedPath) }
            if !pending.isEmpty {
                logger.notice("removed recording files of calls deleted before a restart", metadata: ["count": "\(pending.count)"])
            }
        } catch {
            logger.error("cannot finish queued file deletions", metadata: ["error": "\(error)"])
        }
    }

    private func remove(_ storedPath: String) async throws {
        let files = self.files
        try await NIOThreadPool.singleton.runIfActive { files.remove(storedPath) }
        try await self.repository.forgetFileDeletion(storedPath)
    }
}
