import Foundation
import NIOConcurrencyHelpers
import Testing
import ThreadScheduling

/// The server's and the worker's threads are named and scheduled for their work: the live path
/// (the event loops, the worker's main thread, which reads every chunk and writes its answer)
/// with short scheduler slices, background work at a higher nice value, everything else as
/// Linux's defaults leave it.
@Suite struct ThreadSchedulingTests {
    /// A thread of a running process, as /proc shows it.
    struct ThreadInfo {
        var name: String
        var nice: Int
        /// Nanoseconds; nil where the kernel does not report it.
        var slice: Int?

        init?(process: pid_t, thread: String) {
            let base = "/proc/\(process)/task/\(thread)"
            guard let name = try? String(contentsOfFile: base + "/comm", encoding: .utf8),
                let stat = try? String(contentsOfFile: base + "/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After the name: state is field 3, nice field 19.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 16, let nice = Int(fields[16]) else { return nil }
            self.name = name.trimmingCharacters(in: .whitespacesAndNewlines)
            self.nice = nice
            self.slice = Self.slice(schedFile: base + "/sched")
        }

        static func slice(schedFile: String) -> Int? {
            let text = (try? String(contentsOfFile: schedFile, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("se.slice") }) else { return nil }
            return line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
    }

    static func threads(of process: pid_t) -> [ThreadInfo] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/task")) ?? []
        return tasks.compactMap { ThreadInfo(process: process, thread: $0) }
    }

    /// Whether this kernel takes a custom slice (Linux 6.12+): asked for on a thread of our own.
    static func kernelTakesShortSlices() -> Bool {
        let taken = NIOLockedValueBox(false)
        let done = ConditionLock(value: false)
        Thread {
            CurrentThread.requestShortSlice()
            taken.withLockedValue { $0 = ThreadInfo.slice(schedFile: "/proc/thread-self/sched") == 100_000 }
            done.lock()
            done.unlock(withValue: true)
        }.start()
        done.lock(whenValue: true)
        done.unlock()
        return taken.withLockedValue { $0 }
    }

    @Test func threadsAreNamedAndScheduledForTheirWork() async throws {
        try await withServer(workers: 1) { server in
            let shortSlices = Self.kernelTakesShortSlices()
            let serverThreads = Self.threads(of: server.process.processIdentifier)
            let loops = serverThreads.filter { $0.name.hasPrefix("NIO-SGLTN") }
            #expect(!loops.isEmpty, "the event loops: \(serverThreads.map(\.name))")
            let pids = server.workerPIDs()
            try #require(pids.count == 1)
            let worker = Self.threads(of: pids[0])
            let byName = Dictionary(worker.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            // Named from inside each thread (Foundation's `Thread.name` never reached the kernel).
            for name in ["audio-worker", "output", "analysis", "stats"] {
                #expect(byName[name] != nil, "worker thread \(name): \(worker.map(\.name))")
            }
            #expect(byName["analysis"]?.nice == 10, "analyses run at nice 10")
            #expect(byName["output"]?.nice == 0)
            guard shortSlices else { return }
            for loop in loops { #expect(loop.slice == 100_000, "\(loop.name): \(loop.slice.map(String.init) ?? "-")") }
            #expect(byName["audio-worker"]?.slice == 100_000, "the worker's main thread")
            // Started after the worker's main thread asked for its slice: the default again.
            #expect(byName["stats"]?.slice != 100_000, "threads started later keep the default slice")
            #expect(byName["output"]?.slice != 100_000, "the background threads' writer is not on the live path")
            #expect(byName["analysis"]?.slice != 100_000)
        }
    }
}
