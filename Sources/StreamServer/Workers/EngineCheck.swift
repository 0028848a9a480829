import ArgumentParser
import Foundation

/// Before the pool starts: a real engine must load, or the server does not start. The worker
/// binary is run once with `--check` (it loads the models and exits); what it printed about
/// the failure becomes the server's one-line start error.
enum EngineCheck {
    static func run(workerPath: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: workerPath)
        process.arguments = arguments + ["--check"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ValidationError("cannot run the audio worker \(workerPath): \(error)")
        }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus != 0 else { return }
        // "audio-worker[pid]: engine moonshine cannot start: …" without the prefix.
        let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
        let message = line.firstRange(of: "]: ").map { String(line[$0.upperBound...]) } ?? line
        throw ValidationError(message)
    }
}
