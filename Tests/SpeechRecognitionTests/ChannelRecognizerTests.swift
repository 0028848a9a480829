import SpeechRecognition
import Testing

/// One channel through resampling, endpointing and pocketsphinx, fed the way the worker feeds
/// it: chunk by chunk, at the recording's own rate.
@Suite struct ChannelRecognizerTests {
    /// call30_8k.wav in 100 ms chunks: the six sentences come out as closed segments at the
    /// right places (in 16 kHz time), each decoded with its words, and the partial grows while
    /// a segment is open.
    @Test func chunksBecomeDecodedSegmentsAtTheirPlaces() throws {
        let (samples, rate) = try TestAudio.mono("call30_8k.wav")
        let recognizer = ChannelRecognizer(inputRate: rate, decoder: try PocketSphinxDecoder())
        var closed: [ClosedSegment] = []
        var partials = 0
        var start = 0
        while start < samples.count {
            let end = min(samples.count, start + rate / 10)
            closed += recognizer.append(samples[start..<end])
            if !recognizer.partial.isEmpty { partials += 1 }
            start = end
        }
        closed += recognizer.finish()
        #expect(recognizer.position == samples.count * 2)
        let spans = try TestAudio.call30Answers().spans
        #expect(closed.count == spans.count)
        for (segment, span) in zip(closed, spans) {
            // Within the pre-roll before, and the tail after, the spoken words.
            #expect(segment.startMs >= span.0 - 250 && segment.startMs <= span.0 + 50, "\(segment.startMs) vs \(span)")
            #expect(segment.endMs >= span.1 - 500 && segment.endMs <= span.1 + 300, "\(segment.endMs) vs \(span)")
            #expect(segment.samples.count == segment.endSample - segment.startSample)
            let decoded = try #require(segment.decoded)
            #expect(!decoded.words.isEmpty)
            #expect(
                decoded.words.allSatisfy { $0.startMs >= segment.startMs && $0.endMs <= segment.endMs + 10 },
                "\(segment.startMs)-\(segment.endMs): \(decoded.words)"
            )
        }
        #expect(partials > 50, "partials in \(partials) of 300 chunks")
        #expect(recognizer.partial.isEmpty)
        #expect(recognizer.releaseDecoder() != nil)
    }

    /// Handing over: each closed segment carries the decoder that heard it, still in its
    /// utterance, and the channel goes on with the next decoder; finishing the segment later
    /// gives the same kind of result.
    @Test func closedSegmentsCanTakeTheirDecoderAlong() throws {
        let samples = try TestAudio.at16k("call30.wav")
        var spare: [PocketSphinxDecoder] = [try PocketSphinxDecoder(), try PocketSphinxDecoder()]
        var handed = 0
        let recognizer = ChannelRecognizer(inputRate: 16_000, decoder: try PocketSphinxDecoder()) {
            handed += 1
            return spare.popLast() ?? (try? PocketSphinxDecoder())
        }
        var closed: [ClosedSegment] = []
        for start in stride(from: 0, to: samples.count, by: 1600) {
            closed += recognizer.append(samples[start..<min(samples.count, start + 1600)])
        }
        closed += recognizer.finish()
        // The last sentence closes on the silence after it, before the end of the file.
        #expect(closed.count == 6)
        #expect(handed == 6, "a fresh decoder after every segment")
        #expect(recognizer.releaseDecoder() != nil, "the channel's own, unused since the last segment")
        for index in closed.indices {
            #expect(closed[index].decoded == nil && closed[index].unfinished != nil)
            #expect(closed[index].finishDecoding() != nil)
            #expect(closed[index].unfinished == nil)
            let words = try #require(closed[index].decoded?.words)
            #expect(!words.isEmpty && words.allSatisfy { $0.startMs >= closed[index].startMs && $0.endMs <= closed[index].endMs })
        }
    }

    /// Without a decoder (Moonshine decodes the closed segments), segments still close, with
    /// their audio and no text.
    @Test func withoutADecoderSegmentsCarryTheirAudio() throws {
        let samples = try TestAudio.at16k("call30.wav")
        let recognizer = ChannelRecognizer(inputRate: 16_000, decoder: nil)
        let closed = recognizer.append(samples) + recognizer.finish()
        #expect(closed.count == 6)
        #expect(closed.allSatisfy { $0.decoded == nil && $0.samples.count > 16_000 })
        #expect(recognizer.partial.isEmpty)
    }
}
