import NIOCore
import Protocol
import Testing

@Suite struct PipeFrameTests {
    static let frames: [PipeFrame] = [
        .chunk(clientID: 7, seq: 1, audio: ByteBuffer(bytes: [0, 1, 2, 255])),
        .chunk(clientID: .max, seq: .max, audio: ByteBuffer()),
        .result(clientID: 7, seq: 1, text: "mock transcription for client 7 msg#1 (binary 4 bytes)"),
        .result(clientID: 1, seq: 2, text: "ünïcødé ✓"),
        .error(clientID: 3, seq: 9, code: "transcription_failed", message: "engine said no"),
        .ready(engine: "mock"),
        .shutdown,
        .analyse(
            AnalysisJob(
                jobID: 42,
                recordingID: "9f1c",
                path: "/data/recordings/9f1c.wav",
                minSilenceMs: 500,
                silenceThresholdDBFS: -40.5,
                transcribeSeconds: 20
            )
        ),
        .analyse(
            AnalysisJob(
                jobID: 45,
                recordingID: "9f1d",
                path: "/data/recordings/9f1d.wav",
                minSilenceMs: 500,
                silenceThresholdDBFS: -40,
                transcribeSeconds: 20,
                archive: ArchiveRequest(path: "/data/recordings/9f1d.mp3", bitrateKbps: 48)
            )
        ),
        .analysis(
            jobID: 45,
            result: AnalysisResult(durationSec: 1, silences: [], transcription: "", archive: ArchiveResult(sizeBytes: 6_000, sha256: "ab12"))
        ),
        .analysis(
            jobID: 42,
            result: AnalysisResult(
                durationSec: 30.000_062_5,
                silences: [.init(startMs: 0, endMs: 1043), .init(startMs: 25_636, endMs: .max)],
                transcription: "ünï"
            )
        ),
        .analysis(jobID: 43, result: AnalysisResult(durationSec: 0, silences: [], transcription: "")),
        .analysis(
            jobID: 44,
            result: AnalysisResult(durationSec: 2, silences: [], transcription: "x", timings: .init(decode: 0.25, silence: 0.125, transcribe: 1.5))
        ),
        .stats(
            WorkerStats(process: ProcessStats(cpuSeconds: 12.5, residentBytes: 30 << 20, openFDs: 4), chunks: 1_000_000, chunkErrors: 3, analyses: 7)
        ),
        .analysisFailed(jobID: .max, message: "not a WAV or MP3 file we can decode"),
        .sessionChunk(
            clientID: 7,
            seq: 3,
            format: StreamFormat(codec: .opus, sampleRate: 48000, channels: 2),
            audio: ByteBuffer(bytes: [0xFC, 1, 2])
        ),
        .sessionChunk(clientID: 8, seq: 1, format: StreamFormat(codec: .mulaw, sampleRate: 8000, channels: 1), audio: ByteBuffer()),
        .decoded(clientID: 7, seq: 3, text: "ünï", pcm: ByteBuffer(bytes: [1, 0, 255, 127])),
        .decoded(clientID: 7, seq: 4, text: "", pcm: ByteBuffer()),
        .endSession(clientID: .max),
        .heartbeat(id: 0),
        .heartbeat(id: .max),
        .analysis(
            jobID: 45,
            result: AnalysisResult(
                durationSec: 8,
                silences: [],
                transcription: "hello there",
                segments: [
                    RecognizedSegment(channel: 0, startMs: 810, endMs: 4360, text: "hello there"),
                    RecognizedSegment(
                        channel: 1,
                        startMs: 5000,
                        endMs: .max,
                        text: "ünï",
                        words: [.init(word: "ünï", startMs: 5010, endMs: 5400), .init(word: "", startMs: 0, endMs: 0)]
                    ),
                ]
            )
        ),
        .final(
            LiveFinal(clientID: 7, seqFrom: 3, seqTo: 9, segment: RecognizedSegment(channel: 1, startMs: 200, endMs: 2400, text: "good afternoon"))
        ),
        .final(
            LiveFinal(
                clientID: .max,
                seqFrom: 1,
                seqTo: 1,
                segment: RecognizedSegment(channel: 0, startMs: 0, endMs: 10, text: "", words: [.init(word: "a", startMs: 0, endMs: 10)])
            )
        ),
        .sessionEnded(clientID: 7),
    ]

    /// A session chunk naming a codec this version does not know is refused, not guessed.
    @Test func aSessionChunkWithAnUnknownCodecIsRejected() {
        var buffer = ByteBuffer()
        buffer.writePipeFrame(
            .sessionChunk(clientID: 1, seq: 1, format: StreamFormat(codec: .pcmS16LE, sampleRate: 8000, channels: 1), audio: ByteBuffer())
        )
        buffer.setInteger(UInt8(99), at: PipeFrame.headerSize + 16)
        var decoder = PipeFrameDecoder()
        decoder.append(buffer)
        #expect(throws: PipeFrameError.unknownCodec(99)) { try decoder.next() }
    }

    @Test func everyFrameKindRoundTrips() throws {
        var buffer = ByteBuffer()
        for frame in Self.frames {
            buffer.writePipeFrame(frame)
        }
        var decoder = PipeFrameDecoder()
        decoder.append(buffer)
        var decoded: [PipeFrame] = []
        while let frame = try decoder.next() {
            decoded.append(frame)
        }
        #expect(decoded == Self.frames)
        #expect(decoder.bufferedBytes == 0)
    }

    /// A segment or word count larger than the payload could hold is rejected, not trusted.
    @Test func aFinalWithAnImpossibleWordCountIsRejected() {
        var buffer = ByteBuffer()
        buffer.writePipeFrame(
            .final(LiveFinal(clientID: 1, seqFrom: 1, seqTo: 2, segment: RecognizedSegment(channel: 0, startMs: 0, endMs: 1, text: "ab")))
        )
        // After the ids (24), channel, start, end (9) and the text with its length (6).
        buffer.setInteger(UInt32(1_000_000), at: PipeFrame.headerSize + 39, endianness: .little)
        var decoder = PipeFrameDecoder()
        decoder.append(buffer)
        #expect(throws: PipeFrameError.truncatedPayload(.final)) { try decoder.next() }
    }

    /// A silence count larger than the payload could hold is rejected, not trusted.
    @Test func anAnalysisWithAnImpossibleCountIsRejected() {
        var buffer = ByteBuffer()
        buffer.writePipeFrame(.analysis(jobID: 1, result: AnalysisResult(durationSec: 1, silences: [.init(startMs: 0, endMs: 1)], transcription: "")))
        // After the job id, the duration and the three stage timings.
        buffer.setInteger(UInt32(1_000_000), at: PipeFrame.headerSize + 40, endianness: .little)
        var decoder = PipeFrameDecoder()
        decoder.append(buffer)
        #expect(throws: PipeFrameError.self) { try decoder.next() }
    }

    @Test func framesSplitAtEveryByteStillDecode() throws {
        var buffer = ByteBuffer()
        for frame in Self.frames {
            buffer.writePipeFrame(frame)
        }
        var decoder = PipeFrameDecoder()
        var decoded: [PipeFrame] = []
        for byte in buffer.readableBytesView {
            decoder.append(ByteBuffer(bytes: [byte]))
            while let frame = try decoder.next() {
                decoded.append(frame)
            }
        }
        #expect(decoded == Self.frames)
    }

    @Test func aPartialFrameWaitsForTheRest() throws {
        var buffer = ByteBuffer()
        buffer.writePipeFrame(.result(clientID: 1, seq: 1, text: "hello"))
        var decoder = PipeFrameDecoder()
        decoder.append(buffer.getSlice(at: 0, length: buffer.readableBytes - 1)!)
        #expect(try decoder.next() == nil)
        decoder.append(buffer.getSlice(at: buffer.readableBytes - 1, length: 1)!)
        #expect(try decoder.next() == .result(clientID: 1, seq: 1, text: "hello"))
    }

    @Test func aCorruptedLengthIsRejectedBeforeBuffering() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32.max, endianness: .little)
        buffer.writeBytes([PipeFrame.version, PipeFrame.Kind.chunk.rawValue])
        var decoder = PipeFrameDecoder(maxFrameLength: 1 << 20)
        decoder.append(buffer)
        #expect(throws: PipeFrameError.lengthTooLarge(Int(UInt32.max))) { try decoder.next() }
    }

    @Test func aLengthTooShortForTheHeaderIsRejected() {
        var decoder = PipeFrameDecoder()
        decoder.append(ByteBuffer(bytes: [1, 0, 0, 0, 1]))
        #expect(throws: PipeFrameError.lengthTooSmall(1)) { try decoder.next() }
    }

    @Test func anotherVersionIsRejected() {
        var decoder = PipeFrameDecoder()
        decoder.append(ByteBuffer(bytes: [2, 0, 0, 0, 99, PipeFrame.Kind.shutdown.rawValue]))
        #expect(throws: PipeFrameError.unsupportedVersion(99)) { try decoder.next() }
    }

    @Test func anUnknownKindIsRejected() {
        var decoder = PipeFrameDecoder()
        decoder.append(ByteBuffer(bytes: [2, 0, 0, 0, PipeFrame.version, 200]))
        #expect(throws: PipeFrameError.unknownKind(200)) { try decoder.next() }
    }

    @Test func aChunkTooShortForItsIdsIsRejected() {
        var decoder = PipeFrameDecoder()
        decoder.append(ByteBuffer(bytes: [6, 0, 0, 0, PipeFrame.version, PipeFrame.Kind.chunk.rawValue, 1, 2, 3, 4]))
        #expect(throws: PipeFrameError.truncatedPayload(.chunk)) { try decoder.next() }
    }

    @Test func chunkAudioIsCarriedAsRawBytes() {
        var buffer = ByteBuffer()
        let audio: [UInt8] = Array(repeating: 0xAB, count: 1000)
        let written = buffer.writePipeFrame(.chunk(clientID: 1, seq: 2, audio: ByteBuffer(bytes: audio)))
        #expect(written == PipeFrame.headerSize + 16 + audio.count)
    }
}
