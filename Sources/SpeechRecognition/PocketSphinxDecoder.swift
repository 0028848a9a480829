import CPocketSphinx
import Foundation

/// A word with its time in the stream, from pocketsphinx's segmentation.
public struct TimedWord: Sendable, Equatable {
    public var word: String
    public var startMs: Int
    public var endMs: Int
}

/// One pocketsphinx decoder (Debian's pocketsphinx 0.8 and its en-us model): frame-
/// synchronous, so every chunk moves its partial hypothesis on, and an utterance's end gives
/// words with times. One per open segment: it holds that segment's search state. Not
/// thread-safe: one thread at a time uses it, and it is handed between threads whole (a closed
/// segment's decoder goes to the thread that finishes it), hence `@unchecked Sendable`.
public final class PocketSphinxDecoder: @unchecked Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Where Debian's `pocketsphinx-en-us` puts the model.
    public static let defaultModelDirectory = "/usr/share/pocketsphinx/model/en-us"

    private let decoder: OpaquePointer
    private var inUtterance = false
    /// The utterance's first sample, in 16 kHz samples from the stream's start.
    private var utteranceStart = 0
    /// Frames searched in this decoder's earlier utterances: segment frame numbers count
    /// from its first utterance, not the current one.
    private var earlierFrames = 0
    private var scratch: [Int16] = []

    public init(modelDirectory: String = PocketSphinxDecoder.defaultModelDirectory) throws {
        let hmm = "\(modelDirectory)/en-us"
        let lm = "\(modelDirectory)/en-us.lm.bin"
        let dict = "\(modelDirectory)/cmudict-en-us.dict"
        for path in [hmm, lm, dict] where !FileManager.default.fileExists(atPath: path) {
            throw LoadError(description: "pocketsphinx: \(path) is missing (apt-get install pocketsphinx-en-us)")
        }
        guard let config = callstream_ps_config(hmm, lm, dict) else {
            throw LoadError(description: "pocketsphinx: bad configuration for \(modelDirectory)")
        }
        defer { cmd_ln_free_r(config) }
        guard let decoder = ps_init(config) else {
            throw LoadError(description: "pocketsphinx: the model in \(modelDirectory) did not load")
        }
        self.decoder = decoder
    }

    deinit {
        ps_free(self.decoder)
    }

    /// Feeds 16 kHz mono audio that starts at `startSample`; opens an utterance if none is.
    public func process(_ samples: some Collection<Float>, startSample: Int) {
        if !self.inUtterance {
            ps_start_utt(self.decoder)
            self.inUtterance = true
            self.utteranceStart = startSample
        }
        self.scratch.removeAll(keepingCapacity: true)
        for sample in samples {
            self.scratch.append(Int16(clamping: Int((sample * 32_767).rounded())))
        }
        self.scratch.withUnsafeBufferPointer { _ = ps_process_raw(self.decoder, $0.baseAddress, $0.count, 0, 0) }
    }

    /// The open utterance's best hypothesis so far ("" when none).
    public var partial: String {
        guard self.inUtterance, let hyp = ps_get_hyp(self.decoder, nil) else { return "" }
        return String(cString: hyp)
    }

    /// Closes the utterance: its text and timed words (fillers and silences left out).
    public func finish() -> (text: String, words: [TimedWord]) {
        guard self.inUtterance else { return ("", []) }
        ps_end_utt(self.decoder)
        self.inUtterance = false
        let text = ps_get_hyp(self.decoder, nil).map { String(cString: $0) } ?? ""
        var words: [TimedWord] = []
        let offsetMs = self.utteranceStart / 16 - self.earlierFrames * 10
        defer { self.earlierFrames += Int(ps_get_n_frames(self.decoder)) }
        var segment = ps_seg_iter(self.decoder)
        while let current = segment {
            var first: Int32 = 0
            var last: Int32 = 0
            ps_seg_frames(current, &first, &last)
            if let name = ps_seg_word(current).map({ String(cString: $0) }), let word = Self.spoken(name) {
                // Frames are 10 ms.
                words.append(TimedWord(word: word, startMs: offsetMs + Int(first) * 10, endMs: offsetMs + Int(last + 1) * 10))
            }
            segment = ps_seg_next(current)
        }
        return (text, words)
    }

    /// A dictionary entry as a spoken word: nil for silence and fillers (`<s>`, `<sil>`,
    /// `[NOISE]`), and "read(2)" (an alternative pronunciation) as "read".
    private static func spoken(_ name: String) -> String? {
        guard !name.hasPrefix("<"), !name.hasPrefix("[") else { return nil }
        if let paren = name.firstIndex(of: "(") { return String(name[..<paren]) }
        return name
    }
}
