import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

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
        // The loop count must be set before NIO's shared group first starts.
        if let eventLoops = command.eventLoops {
            NIOSingletons.groupLoopCountSuggestion = eventLoops
        }
        // Run Swift concurrency on NIO's event loops: async code and socket I/O then share
        // threads instead of hopping between two pools on every message.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        try await command.run()
    } else {
        var command = parsed
        try command.run()
    }
} catch {
    // --help and --version print and exit 0; anything else is one line and exit code 64.
    let code = StreamServerCommand.exitCode(for: error)
    guard code != .success else { StreamServerCommand.exit(withError: error) }
    var message = StreamServerCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    if let variable = StreamServerCommand.environmentSource(of: message, commandLine: Array(CommandLine.arguments.dropFirst())) {
        message += " (from \(variable))"
    }
    FileHandle.standardError.write(Data("stream-server: \(message)\n".utf8))
    Foundation.exit(code == .validationFailure ? 64 : code.rawValue)
}
