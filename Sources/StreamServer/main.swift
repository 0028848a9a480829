import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

// Run Swift concurrency on NIO's event loops: async code and socket I/O then share threads
// instead of hopping between two pools on every message.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
// A worker that dies leaves a broken pipe; writing to it must be an error, not a signal.
signal(SIGPIPE, SIG_IGN)
ResourceLimits.raiseOpenFileLimit()

let arguments = StreamServerCommand.arguments(
    commandLine: Array(CommandLine.arguments.dropFirst()),
    environment: ProcessInfo.processInfo.environment
)
do {
    let parsed = try StreamServerCommand.parseAsRoot(arguments)
    if let command = parsed as? StreamServerCommand {
        try await command.run()
    } else {
        var command = parsed
        try command.run()
    }
} catch {
    StreamServerCommand.exit(withError: error)
}
