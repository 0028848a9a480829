import NIOCore
import NIOEmbedded
import Protocol
import Testing

@testable import StreamServer

/// `WorkerSlot`'s pacing (`--worker-write-interval-ms`), on an embedded loop whose clock the
/// test moves: chunks are written at most once per interval, together, and in order.
@Suite struct WorkerPacingTests {
    /// A ready slot whose pipe is `channel`, at 1 s on the loop's clock.
    private func readySlot(writeInterval: TimeAmount) throws -> (WorkerSlot, EmbeddedChannel) {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        loop.advanceTime(to: .uptimeNanoseconds(1_000_000_000))
        let slot = WorkerSlot(index: 0, eventLoop: loop, writeInterval: writeInterval)
        let generation = slot.starting(process: WorkerProcess(pid: 0, stdinWrite: -1, stdoutRead: -1), channel: channel)
        slot.ready(generation: generation)
        loop.run()
        return (slot, channel)
    }

    private func submit(_ slot: WorkerSlot, seq: UInt64) {
        slot.submit(clientID: 7, seq: seq, audio: ByteBuffer(bytes: [UInt8](repeating: UInt8(seq), count: 320)))
    }

    /// The seqs of the chunks in each write the slot made so far.
    private func writes(_ channel: EmbeddedChannel) throws -> [[UInt64]] {
        var writes: [[UInt64]] = []
        while let batch = try channel.readOutbound(as: ByteBuffer.self) {
            var decoder = PipeFrameDecoder()
            decoder.append(batch)
            var seqs: [UInt64] = []
            while let frame = try decoder.next() {
                guard case .chunk(7, let seq, _) = frame else { Issue.record("unexpected frame \(frame)"); continue }
                seqs.append(seq)
            }
            writes.append(seqs)
        }
        return writes
    }

    @Test func chunksWithinAnIntervalShareOneWrite() throws {
        let (slot, channel) = try self.readySlot(writeInterval: .milliseconds(5))
        let loop = channel.embeddedEventLoop
        // After a quiet interval the first chunk goes at once.
        self.submit(slot, seq: 1)
        loop.run()
        #expect(try self.writes(channel) == [[1]])
        // The next ones wait for the interval since that write, then go together.
        self.submit(slot, seq: 2)
        loop.advanceTime(by: .milliseconds(2))
        self.submit(slot, seq: 3)
        loop.advanceTime(by: .milliseconds(2))
        #expect(try self.writes(channel).isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(try self.writes(channel) == [[2, 3]])
        // A chunk after a quiet interval is not held.
        loop.advanceTime(by: .milliseconds(20))
        self.submit(slot, seq: 4)
        loop.run()
        #expect(try self.writes(channel) == [[4]])
        #expect(slot.pendingCount == 4)
        _ = try channel.finish()
    }

    @Test func noIntervalWritesEachTicksChunksAtOnce() throws {
        let (slot, channel) = try self.readySlot(writeInterval: .zero)
        let loop = channel.embeddedEventLoop
        self.submit(slot, seq: 1)
        self.submit(slot, seq: 2)
        loop.run()
        self.submit(slot, seq: 3)
        loop.run()
        #expect(try self.writes(channel) == [[1, 2], [3]])
        _ = try channel.finish()
    }
}
