import ArgumentParser
import Foundation
import Protocol
import SpeechRecognition

/// `--engine`: what turns audio into text.
enum EngineChoice: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Deterministic text naming each chunk (the default; the protocol tests rely on it).
    case mock
    /// Moonshine base-en: accurate finals, no partials.
    case moonshine
    /// pocketsphinx: partials as audio arrives, finals with word times.
    case pocketsphinx
    /// pocketsphinx's partials while a segment is open, Moonshine's text as its final.
    case hybrid

    var usesMoonshine: Bool { self == .moonshine || self == .hybrid }
    var usesPocketSphinx: Bool { self == .pocketsphinx || self == .hybrid }
}

/// A real engine's models, loaded once at start (a model that cannot load stops the worker
/// with one line naming what is missing) and shared by the live path and the analyses.
final class SpeechModels: Sendable {
    let choice: EngineChoice
    let moonshine: MoonshineModel?
    let pocketSphinxModel: String

    init(choice: EngineChoice, moonshineDirectory: String, pocketSphinxModel: String, warmUp: Bool = true) throws {
        self.choice = choice
        self.pocketSphinxModel = pocketSphinxModel
        self.moonshine = choice.usesMoonshine ? try MoonshineModel(directory: moonshineDirectory) : nil
        // A fresh model's first decode takes about twice as long (onnxruntime sets up its
        // buffers): one throwaway decode now keeps that off the first caller's final.
        if warmUp, let moonshine = self.moonshine {
            let warmUp = (0..<(3 * Endpointer.sampleRate)).map { Float(0.1 * sin(Double($0) * 0.07 + sin(Double($0) * 0.0003) * 40)) }
            _ = try? moonshine.transcribe(warmUp)
        }
        if choice.usesPocketSphinx {
            _ = try PocketSphinxDecoder(modelDirectory: pocketSphinxModel)
        }
    }

    /// A decoder for one channel's partials (pocketsphinx and hybrid), or nil (moonshine).
    func makeDecoder() throws -> PocketSphinxDecoder? {
        self.choice.usesPocketSphinx ? try PocketSphinxDecoder(modelDirectory: self.pocketSphinxModel) : nil
    }

    /// The final text of a closed segment on `channel`: Moonshine's when it is loaded (with
    /// the repetition guard), else what pocketsphinx decoded as it went.
    func recognize(_ segment: ClosedSegment, channel: Int) throws -> RecognizedSegment {
        var text = ""
        var words: [RecognizedSegment.Word] = []
        if let moonshine = self.moonshine {
            let seconds = Double(segment.samples.count) / Double(Endpointer.sampleRate)
            let audio =
                segment.sourceRate < Endpointer.sampleRate
                ? ComfortNoise.added(to: segment.samples, seed: UInt64(segment.startSample)) : segment.samples
            text = RepetitionGuard.clean(try moonshine.transcribe(audio), audioSeconds: seconds)
        } else if let decoded = segment.decoded {
            text = decoded.text
            words = decoded.words.map { .init(word: $0.word, startMs: UInt32(clamping: $0.startMs), endMs: UInt32(clamping: $0.endMs)) }
        }
        return RecognizedSegment(
            channel: UInt8(clamping: channel),
            startMs: UInt32(clamping: segment.startMs),
            endMs: UInt32(clamping: segment.endMs),
            text: text,
            words: words
        )
    }
}
