import Foundation
import SpeechRecognition
import ThreadScheduling

/// The worker's pocketsphinx decoders for live segments. Loading one takes about a third of a
/// second and ending an utterance a fifth: both happen on this pool's thread, never on the
/// main loop, which takes a ready decoder when a channel needs one and hands each closed
/// segment's decoder back (`recycle`) to be finished and reused.
final class DecoderPool: @unchecked Sendable {
    private let models: SpeechModels
    private let condition = NSCondition()
    private var idle: [PocketSphinxDecoder] = []
    private var toFinish: [PocketSphinxDecoder] = []
    /// Ready decoders kept in hand for new segments and sessions, and at most kept idle.
    private let minimumIdle = 2
    private let maximumIdle = 8

    init(models: SpeechModels) {
        self.models = models
        guard models.choice.usesPocketSphinx else { return }
        // Ready before the worker is: the first session must not load one on the main loop
        // (its first chunks' partials would wait a third of a second each).
        self.idle = (0..<self.minimumIdle).compactMap { _ in try? models.makeDecoder() }
        Thread { [self] in
            CurrentThread.setName("decoders")
            self.loop()
        }.start()
    }

    /// A ready decoder: from the pool, or (the pool being empty) loaded now. Nil without
    /// pocketsphinx, or if one cannot be loaded (the channel then has no partials).
    func take() -> PocketSphinxDecoder? {
        guard self.models.choice.usesPocketSphinx else { return nil }
        self.condition.lock()
        let decoder = self.idle.popLast()
        self.condition.signal()
        self.condition.unlock()
        if let decoder { return decoder }
        do {
            return try self.models.makeDecoder()
        } catch {
            PipeIO.log("a pocketsphinx decoder could not be loaded: \(error)")
            return nil
        }
    }

    /// A decoder whose utterance may still be open: finished and made ready on the pool's thread.
    func recycle(_ decoder: PocketSphinxDecoder?) {
        guard let decoder else { return }
        self.condition.lock()
        self.toFinish.append(decoder)
        self.condition.signal()
        self.condition.unlock()
    }

    private func loop() {
        BackgroundPriority.lowerCurrentThread()
        while true {
            self.condition.lock()
            while self.toFinish.isEmpty && self.idle.count >= self.minimumIdle {
                self.condition.wait()
            }
            let finishing = self.toFinish.popLast()
            self.condition.unlock()

            let ready: PocketSphinxDecoder?
            if let finishing {
                _ = finishing.finish()
                ready = finishing
            } else {
                ready = try? self.models.makeDecoder()
                if ready == nil { Thread.sleep(forTimeInterval: 1) }  // a failing load is not retried in a spin
            }
            guard let ready else { continue }
            self.condition.lock()
            if self.idle.count < self.maximumIdle { self.idle.append(ready) }
            self.condition.unlock()
        }
    }
}
