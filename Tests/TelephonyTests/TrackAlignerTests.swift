import Telephony
import Testing

@Suite struct TrackAlignerTests {
    /// 20 ms of one byte value at 8 kHz.
    private static func packet(_ value: UInt8) -> [UInt8] { [UInt8](repeating: value, count: 160) }

    @Test func twoTracksInStepInterleaveIntoWholeChunks() throws {
        var aligner = TrackAligner(channels: 2)
        var chunks: [[UInt8]] = []
        for index in 0..<10 {
            let timestamp = UInt64(1_000 + index * 20)  // relative to the first: 0, 20, … ms
            chunks += try aligner.add(track: 0, timestampMs: timestamp, samples: Self.packet(1))
            chunks += try aligner.add(track: 1, timestampMs: timestamp, samples: Self.packet(2))
        }
        // 200 ms of both tracks: two 100 ms chunks of 800 frames, left 1 and right 2.
        #expect(chunks.count == 2)
        #expect(chunks.allSatisfy { $0.count == 1_600 })
        #expect(chunks[0][0] == 1 && chunks[0][1] == 2 && chunks[1][1_598] == 1 && chunks[1][1_599] == 2)
        #expect(aligner.finish().isEmpty)
        #expect(aligner.lateFrames == 0)
    }

    /// A track that sends nothing holds the other back by the lag only; its side is silence.
    @Test func aSilentTrackIsFilledOnceTheLagHasPassed() throws {
        var aligner = TrackAligner(channels: 2, lagMs: 200)
        var chunks: [[UInt8]] = []
        for index in 0..<15 {
            chunks += try aligner.add(track: 0, timestampMs: UInt64(index * 20), samples: Self.packet(7))
        }
        // 300 ms sent, 200 ms of lag: 100 ms out.
        #expect(chunks.count == 1)
        #expect(chunks[0].count == 1_600)
        #expect(stride(from: 0, to: 1_600, by: 2).allSatisfy { chunks[0][$0] == 7 && chunks[0][$0 + 1] == 0xFF })
        let rest = aligner.finish()
        #expect(rest.map(\.count) == [1_600, 1_600])
    }

    /// A gap in a track's timestamps is silence; the packets after it land where they belong.
    @Test func aGapIsSilenceAndLaterAudioKeepsItsPlace() throws {
        var aligner = TrackAligner(channels: 1)
        _ = try aligner.add(track: 0, timestampMs: 500, samples: Self.packet(9))
        _ = try aligner.add(track: 0, timestampMs: 560, samples: Self.packet(9))  // 40 ms missing
        let samples = aligner.finish().flatMap { $0 }
        #expect(samples.count == 640)
        #expect(samples[0..<160].allSatisfy { $0 == 9 })
        #expect(samples[160..<480].allSatisfy { $0 == 0xFF })
        #expect(samples[480..<640].allSatisfy { $0 == 9 })
    }

    /// Audio whose place already went out is dropped (and counted), not played late.
    @Test func aLatePacketIsDroppedAndCounted() throws {
        var aligner = TrackAligner(channels: 2, lagMs: 100)
        var chunks: [[UInt8]] = []
        for index in 0..<10 {
            chunks += try aligner.add(track: 0, timestampMs: UInt64(index * 20), samples: Self.packet(3))
        }
        #expect(chunks.count == 1)  // 0–100 ms went out with the right side silent
        chunks += try aligner.add(track: 1, timestampMs: 0, samples: Self.packet(4))
        #expect(aligner.lateFrames == 160)
        chunks += aligner.finish()
        #expect(!chunks.flatMap { $0 }.contains(4))
        // A packet straddling the edge keeps its part after it.
        var straddled = TrackAligner(channels: 1, lagMs: 0)
        _ = try straddled.add(track: 0, timestampMs: 0, samples: [UInt8](repeating: 1, count: 800))
        _ = try straddled.add(track: 0, timestampMs: 90, samples: [UInt8](repeating: 2, count: 160))
        #expect(straddled.lateFrames == 80)
        #expect(straddled.finish() == [[UInt8](repeating: 2, count: 80)])
    }

    @Test func aTimestampFarAheadIsRefusedAndAnUnknownTrackToo() throws {
        var aligner = TrackAligner(channels: 1, maxAheadMs: 1_000)
        _ = try aligner.add(track: 0, timestampMs: 0, samples: Self.packet(1))
        #expect(throws: TrackAligner.Refusal.tooFarAhead) { try aligner.add(track: 0, timestampMs: 5_000, samples: Self.packet(1)) }
        #expect(throws: TrackAligner.Refusal.tooFarAhead) { try aligner.add(track: 0, timestampMs: .max, samples: Self.packet(1)) }
        #expect(throws: TrackAligner.Refusal.unknownTrack) { try aligner.add(track: 1, timestampMs: 20, samples: Self.packet(1)) }
        #expect(aligner.finish() == [Self.packet(1)])
    }
}
