import NIOCore
import Protocol
import SpeechRecognition

/// The live path of a real engine. A session's chunks go through its `StreamRecognizer` on
/// the main loop (resampling, endpointing, and pocketsphinx's partials, all cheaper than real
/// time); each closed segment goes to the `FinalDecoder` thread. A plain stream's chunk (no
/// session, so no format) is taken as 16 kHz mono pcm_s16le and transcribed on its own.
struct RealEngine: TranscriptionEngine {
    let models: SpeechModels
    let finals: FinalDecoder
    let decoders: DecoderPool
    private var streams: [UInt64: StreamRecognizer] = [:]

    init(models: SpeechModels, finals: FinalDecoder, decoders: DecoderPool) {
        self.models = models
        self.finals = finals
        self.decoders = decoders
    }

    /// A pause this long inside a segment cuts a piece (the segment closes at 300 ms).
    static let pieceSilenceMs = 100

    var name: String { self.models.choice.rawValue }

    mutating func transcribe(clientID: UInt64, seq: UInt64, audio: ByteBuffer) throws -> String {
        let recognizer = ChannelRecognizer(inputRate: Endpointer.sampleRate, decoder: self.decoders.take())
        defer { self.decoders.recycle(recognizer.releaseDecoder()) }
        var samples: [Float] = []
        samples.reserveCapacity(audio.readableBytes / 2)
        audio.withUnsafeReadableBytes { raw in
            for index in 0..<(raw.count / 2) {
                samples.append(Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: Int16.self))) / 32_768)
            }
        }
        let segments = recognizer.append(samples) + recognizer.finish()
        return try segments.map { segment in
            self.models.liveSegmentQueued()
            return try self.models.recognize(segment, channel: 0, live: true).text
        }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    mutating func transcribe(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: ByteBuffer, pcm: ByteBuffer) throws -> String {
        let stream = try self.stream(clientID: clientID, format: format)
        self.submit(stream.append(seq: seq, pcm: pcm), of: stream, clientID: clientID)
        // Stereo: each open leg's partial, the first channel's first.
        return stream.channels.map(\.partial).filter { !$0.isEmpty }.joined(separator: " | ")
    }

    mutating func endSession(clientID: UInt64, output: inout ByteBuffer) {
        if let stream = self.streams.removeValue(forKey: clientID) {
            self.submit(stream.finish(), of: stream, clientID: clientID)
            for recognizer in stream.channels { self.decoders.recycle(recognizer.releaseDecoder()) }
        }
        self.finals.submit(.ended(clientID: clientID))
    }

    /// Pieces first: a segment's final is made of its pieces' texts.
    private func submit(_ output: StreamRecognizer.Output, of stream: StreamRecognizer, clientID: UInt64) {
        for (channel, piece) in output.pieces {
            self.finals.submit(.piece(clientID: clientID, channel: channel, piece, sourceRate: stream.channels[channel].inputRate))
        }
        for (channel, segment) in output.closed {
            let seqs = stream.seqs(of: segment)
            self.finals.submit(.segment(clientID: clientID, seqFrom: seqs.from, seqTo: seqs.to, channel: channel, segment))
        }
    }

    private mutating func stream(clientID: UInt64, format: StreamFormat) throws -> StreamRecognizer {
        if let stream = self.streams[clientID] { return stream }
        var channels: [ChannelRecognizer] = []
        let decoders = self.decoders
        // Moonshine decodes a segment whole: a sentence is cut as a piece once it has been
        // followed by 100 ms of silence, and decoded while the endpointer waits out the rest
        // of its 300 ms (see `SpeechPiece`).
        let pieceSilenceMs = self.models.moonshine == nil ? nil : Self.pieceSilenceMs
        for _ in 0..<max(1, format.channels) {
            channels.append(
                ChannelRecognizer(
                    inputRate: format.sampleRate,
                    decoder: decoders.take(),
                    nextDecoder: { decoders.take() },
                    pieceSilenceMs: pieceSilenceMs
                )
            )
        }
        let stream = StreamRecognizer(channels: channels)
        self.streams[clientID] = stream
        return stream
    }

}
