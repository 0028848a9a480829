import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
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
    /// Live finals before analyses, on the one model.
    let gate = ModelGate()

    /// `check`: only see that the models load (`--check`), without warming Moonshine up.
    init(choice: EngineChoice, moonshineDirectory: String, pocketSphinxModel: String, check: Bool = false) throws {
        self.choice = choice
        self.pocketSphinxModel = pocketSphinxModel
        self.moonshine = choice.usesMoonshine ? try Self.loadInBackground(moonshineDirectory, warmUp: !check) : nil
        if choice.usesPocketSphinx {
            _ = try PocketSphinxDecoder(modelDirectory: pocketSphinxModel)
        }
    }

    /// A fresh model's first decode takes about twice as long (onnxruntime sets up its
    /// buffers): the worker decodes this once before it says it is ready.
    static let warmUpAudio = (0..<(3 * Endpointer.sampleRate)).map { Float(0.1 * sin(Double($0) * 0.07 + sin(Double($0) * 0.0003) * 40)) }

    /// Loads Moonshine from a thread at background priority, which onnxruntime's threads,
    /// started with the model, inherit (see `BackgroundPriority`).
    private static func loadInBackground(_ directory: String, warmUp: Bool) throws -> MoonshineModel {
        let loaded = NIOLockedValueBox<Result<MoonshineModel, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            BackgroundPriority.lowerCurrentThread()
            let result = Result {
                let model = try MoonshineModel(directory: directory)
                if warmUp { _ = try? model.transcribe(Self.warmUpAudio) }
                return model
            }
            loaded.withLockedValue { $0 = result }
            done.signal()
        }
        thread.start()
        done.wait()
        return try loaded.withLockedValue { $0! }.get()
    }

    /// A decoder for one channel's partials (pocketsphinx and hybrid), or nil (moonshine).
    func makeDecoder() throws -> PocketSphinxDecoder? {
        self.choice.usesPocketSphinx ? try PocketSphinxDecoder(modelDirectory: self.pocketSphinxModel) : nil
    }

    /// A live segment is queued for `recognize(live: true)`: analyses wait for it.
    func liveSegmentQueued() {
        if self.moonshine != nil { self.gate.liveSegmentQueued() }
    }

    /// The final text of a closed segment on `channel`: Moonshine's when it is loaded (with
    /// the repetition guard), else what pocketsphinx decoded as it went. `live`: a live
    /// session's segment, announced with `liveSegmentQueued()`; otherwise an analysis's,
    /// which waits for the live ones.
    func recognize(_ segment: ClosedSegment, channel: Int, live: Bool) throws -> RecognizedSegment {
        var text = ""
        var words: [RecognizedSegment.Word] = []
        if self.moonshine != nil {
            text = try self.moonshineText(segment.samples, sourceRate: segment.sourceRate, startSample: segment.startSample, live: live)
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

    /// Moonshine's text of 16 kHz audio that starts at `startSample` of a channel recorded at
    /// `sourceRate` (comfort noise below 16 kHz, then the repetition guard). `live` as for
    /// `recognize`.
    func moonshineText(_ samples: [Float], sourceRate: Int, startSample: Int, live: Bool) throws -> String {
        guard let moonshine = self.moonshine else { return "" }
        let seconds = Double(samples.count) / Double(Endpointer.sampleRate)
        let audio = sourceRate < Endpointer.sampleRate ? ComfortNoise.added(to: samples, seed: UInt64(startSample)) : samples
        return RepetitionGuard.clean(try self.gate.withModel(live: live) { try moonshine.transcribe(audio) }, audioSeconds: seconds)
    }
}
