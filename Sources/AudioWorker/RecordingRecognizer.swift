import AudioAnalysis
import Protocol
import SpeechRecognition

/// A real engine over a whole recording: each channel (the first two: a call's two legs) is
/// decoded in a pass of its own, cut into segments, and each segment recognised as soon as it
/// closes, so memory stays bounded by one segment whatever the length.
struct RecordingRecognizer {
    let models: SpeechModels

    /// The recording's segments, every channel's, in time order.
    func segments(path: String, kind: AudioSniffer.Kind) throws -> [RecognizedSegment] {
        let channels: Int
        switch kind {
        case .wav: channels = try WAVDecoder(path: path).header.channels
        case .mp3: channels = try MP3Decoder(path: path).decodeMono(channel: 0) { _, _ in }.channels
        }
        var segments: [RecognizedSegment] = []
        for channel in 0..<min(channels, 2) {
            segments += try self.segments(path: path, kind: kind, channel: channel)
        }
        return segments.sorted { ($0.startMs, $0.channel) < ($1.startMs, $1.channel) }
    }

    private func segments(path: String, kind: AudioSniffer.Kind, channel: Int) throws -> [RecognizedSegment] {
        // Hybrid's finals are Moonshine's: pocketsphinx decodes a recording only when it is the engine.
        let decoder = self.models.choice == .pocketsphinx ? try self.models.makeDecoder() : nil
        var recognizer: ChannelRecognizer?
        var segments: [RecognizedSegment] = []
        let feed: (Int, UnsafeBufferPointer<Float>) throws -> Void = { rate, samples in
            if recognizer == nil { recognizer = ChannelRecognizer(inputRate: rate, decoder: decoder) }
            for segment in recognizer!.append(samples) {
                segments.append(try self.models.recognize(segment, channel: channel, live: false))
            }
        }
        switch kind {
        case .wav:
            let wav = try WAVDecoder(path: path)
            let rate = wav.header.sampleRate
            try wav.decodeMono(channel: channel) { try feed(rate, $0) }
        case .mp3:
            try MP3Decoder(path: path).decodeMono(channel: channel) { rate, samples in try feed(rate, samples) }
        }
        for segment in recognizer?.finish() ?? [] {
            segments.append(try self.models.recognize(segment, channel: channel, live: false))
        }
        return segments.filter { !$0.text.isEmpty }
    }
}
