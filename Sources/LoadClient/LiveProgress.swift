import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The line a run shows on a terminal, redrawn every second: connections, transcripts a second,
/// p99 send→transcript over that second, errors. Only made when stdout is a terminal, so runs
/// that feed scripts (and the benchmarks) pay nothing for it.
final class LiveProgress: Sendable {
    private struct State {
        var connections = 0
        var transcripts = 0
        var errors = 0
        var latencies: [UInt32] = []
    }

    private let state = NIOLockedValueBox(State())

    static func forTerminal() -> LiveProgress? {
        isatty(STDOUT_FILENO) == 1 ? LiveProgress() : nil
    }

    func connected() { self.state.withLockedValue { $0.connections += 1 } }
    func disconnected() { self.state.withLockedValue { $0.connections -= 1 } }
    func error() { self.state.withLockedValue { $0.errors += 1 } }

    func transcript(micros: UInt32) {
        self.state.withLockedValue {
            $0.transcripts += 1
            $0.latencies.append(micros)
        }
    }

    /// Redraws the line every second until cancelled, then ends it.
    func show() -> Task<Void, Never> {
        Task {
            var last = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let (connections, transcripts, errors, latencies) = self.state.withLockedValue { state in
                    defer { state.latencies.removeAll(keepingCapacity: true) }
                    return (state.connections, state.transcripts, state.errors, state.latencies)
                }
                let sorted = latencies.sorted()
                let p99 = sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
                let line = "connections \(connections)  transcripts/s \(transcripts - last)  p99 \(String(format: "%.1f", p99)) ms  errors \(errors)"
                last = transcripts
                FileHandle.standardOutput.write(Data("\r\u{1B}[K\(line)".utf8))
            }
            FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8))
        }
    }
}
