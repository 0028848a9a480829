import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The worker's stdout, shared by its threads: each writes whole batches of frames under one
/// lock, so frames never interleave.
///
/// Threads at background priority (analyses, finals) never take that lock: they `send` their
/// frames to a writer thread at normal priority. A niced thread holding the lock could be kept
/// off the CPU for tens of milliseconds on a busy machine, and the main loop, waiting for it,
/// with it: live chunks late, heartbeats unanswered, the worker killed as hung.
final class WorkerOutput: @unchecked Sendable {
    private let lock = NIOLock()
    private let condition = NSCondition()
    /// Frames sent and not yet written (guarded by `condition`).
    private var queue: [ByteBuffer] = []
    private var writing = false

    init() {
        let thread = Thread { [self] in self.writeSentFrames() }
        thread.name = "output"
        thread.start()
    }

    /// Writes `frames` now, from a thread at normal priority.
    func write(_ frames: inout ByteBuffer) throws {
        try self.lock.withLock { try PipeIO.writeAll(&frames) }
    }

    /// Queues `frames` for the writer thread: for threads at background priority.
    func send(_ frames: ByteBuffer) {
        self.condition.lock()
        self.queue.append(frames)
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Returns once every frame sent so far has been written (before the worker exits).
    func flush() {
        self.condition.lock()
        while !self.queue.isEmpty || self.writing {
            self.condition.wait()
        }
        self.condition.unlock()
    }

    private func writeSentFrames() {
        while true {
            self.condition.lock()
            while self.queue.isEmpty {
                self.condition.wait()
            }
            var batch = self.queue
            self.queue.removeAll()
            self.writing = true
            self.condition.unlock()

            for index in batch.indices {
                do {
                    try self.write(&batch[index])
                } catch {
                    PipeIO.log("cannot write a frame: \(error)")
                }
            }

            self.condition.lock()
            self.writing = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
