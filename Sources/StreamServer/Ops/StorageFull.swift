import GRDB
import HTTPTypes
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Whether an error means the data directory is out of space (or quota): a file write
/// (`ENOSPC`, `EDQUOT`) or SQLite (`SQLITE_FULL`). Such failures are the server's condition,
/// not the request's fault: HTTP answers 507 `insufficient_storage`, a live session gets
/// `storage_full`, and both recover by themselves once space returns.
enum StorageFull {
    static func matches(_ error: any Error) -> Bool {
        switch error {
        case let error as UploadFile.IOError: return error.code == ENOSPC || error.code == EDQUOT
        case let error as IOError: return error.errnoCode == ENOSPC || error.errnoCode == EDQUOT
        case let error as DatabaseError: return error.resultCode == .SQLITE_FULL
        default: return false
        }
    }

    static var apiError: APIError {
        APIError(
            HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"),
            code: "insufficient_storage",
            message: "the server's storage is full; try again later"
        )
    }
}
