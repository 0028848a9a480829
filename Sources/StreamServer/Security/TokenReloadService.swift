import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads `--auth-tokens-file` on SIGHUP. Open connections stay: a token is checked when a
/// request or an upgrade arrives, never again for a stream already open.
struct TokenReloadService: Service {
    let tokens: AuthTokens
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do {
                let count = try self.tokens.reload()
                self.logger.notice("auth tokens reloaded", metadata: ["tokens": "\(count)"])
            } catch {
                self.logger.error("auth tokens not reloaded; the previous ones stay in use", metadata: ["error": "\(error)"])
            }
        }
    }
}
