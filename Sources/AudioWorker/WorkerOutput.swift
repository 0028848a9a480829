import NIOConcurrencyHelpers
import NIOCore

/// The worker's stdout, shared by its threads: each writes whole batches of frames under one
/// lock, so frames never interleave.
///
/// Threads at background priority (analyses, finals) never take that lock: they `send` their
/// frames to a writer thread at normal priority. A niced thread holding the lock could be kept
/// off the CPU for tens of milliseconds on a busy machine, and the main loop, waiting for it,
/// with it: live chunks late, heartbeats unanswered, the worker killed as hung.
final class WorkerOutput: Sendable {
    private let lock: NIOLock
    private let writer: SerialThread<ByteBuffer>

    init() {
        let lock = NIOLock()
        self.lock = lock
        self.writer = SerialThread(name: "output", background: false) { frames in
            var frames = frames
            do {
                try lock.withLock { try PipeIO.writeAll(&frames) }
            } catch {
                PipeIO.log("cannot write a frame: \(error)")
            }
        }
    }

    /// Writes `frames` now, from a thread at normal priority.
    func write(_ frames: inout ByteBuffer) throws {
        try self.lock.withLock { try PipeIO.writeAll(&frames) }
    }

    /// Queues `frames` for the writer thread: for threads at background priority.
    func send(_ frames: ByteBuffer) {
        self.writer.submit(frames)
    }

    /// Returns once every frame sent so far has been written, and ends the writer thread
    /// (as the worker exits).
    func finish() {
        self.writer.finish()
    }
}
