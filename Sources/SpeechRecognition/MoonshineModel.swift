import Foundation

/// Moonshine base-en, run by ONNX Runtime: the model files and `libonnxruntime.so` come from
/// the `moonshine-cpp` wheel (the wheel's own `libmoonshine.so` is not used: it is built for
/// CPUs with AVX-512 and dies on others, and keeps about 30 MB per decode). The encoder turns
/// a segment into hidden states; the decoder then picks one token at a time (greedy), with its
/// attention cache carried from step to step, until it ends the text or reaches
/// `maximumTokensPerSecond` of the audio. It decodes a whole segment: finals only. Calls are
/// serialised by a lock, which makes one model safe to share.
public final class MoonshineModel: @unchecked Sendable {
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Speech is at most about four tokens a second: more is the decoder looping.
    static let maximumTokensPerSecond = 6.0
    /// Decoder layers of the base model, each with a self-attention and a cross-attention cache.
    static let layers = 8

    private let encoder: OnnxSession
    private let decoder: OnnxSession
    private let tokenizer: MoonshineTokenizer
    private let runtime: OnnxRuntime
    private let lock = NSLock()
    private let decoderCacheInputs: [String]
    private let decoderCacheOutputs: [String]
    private let encoderCacheInputs: [String]
    private let encoderCacheOutputs: [String]

    /// `directory` is the wheel's `moonshine_cpp` folder: `libonnxruntime.so.*` and
    /// `models/base-en`. `threads`: ONNX Runtime's threads per decode (0: one per core).
    public init(directory: String, threads: Int = 0) throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let library = files.filter({ $0.hasPrefix("libonnxruntime.so.") }).sorted().last else {
            throw LoadError(description: "moonshine: no libonnxruntime.so.* in \(directory) (run `make setup`)")
        }
        let model = "\(directory)/models/base-en"
        for file in ["encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"] {
            guard FileManager.default.fileExists(atPath: "\(model)/\(file)") else {
                throw LoadError(description: "moonshine: the model file \(model)/\(file) is missing")
            }
        }
        do {
            self.runtime = try OnnxRuntime.load("\(directory)/\(library)")
            self.encoder = try OnnxSession(runtime: self.runtime, path: "\(model)/encoder_model.ort", threads: threads)
            self.decoder = try OnnxSession(runtime: self.runtime, path: "\(model)/decoder_model_merged.ort", threads: threads)
            self.tokenizer = try MoonshineTokenizer(path: "\(model)/tokenizer.bin")
        } catch {
            throw LoadError(description: "moonshine: \(error)")
        }
        let layers = 0..<Self.layers
        let decoderCache = layers.flatMap { ["\($0).decoder.key", "\($0).decoder.value"] }
        let encoderCache = layers.flatMap { ["\($0).encoder.key", "\($0).encoder.value"] }
        self.decoderCacheInputs = decoderCache.map { "past_key_values.\($0)" }
        self.decoderCacheOutputs = decoderCache.map { "present.\($0)" }
        self.encoderCacheInputs = encoderCache.map { "past_key_values.\($0)" }
        self.encoderCacheOutputs = encoderCache.map { "present.\($0)" }
    }

    /// The text of one segment of 16 kHz mono audio.
    public func transcribe(_ samples: [Float]) throws -> String {
        guard !samples.isEmpty else { return "" }
        do {
            return try self.lock.withLock { try self.decode(samples) }
        } catch {
            throw LoadError(description: "moonshine: transcription failed: \(error)")
        }
    }

    private func decode(_ samples: [Float]) throws -> String {
        let runtime = self.runtime
        let audio = try OnnxTensor(runtime: runtime, samples, shape: [1, Int64(samples.count)], type: 1)
        let hidden = try self.encoder.run([("input_values", audio)], outputs: ["last_hidden_state"])[0]

        let seconds = Double(samples.count) / Double(Endpointer.sampleRate)
        let limit = max(4, Int(seconds * Self.maximumTokensPerSecond))
        // The first step has no cache (empty tensors) and computes the cross-attention cache,
        // which stays the same for the rest; later steps take the cache branch.
        let empty = try OnnxTensor(runtime: runtime, [Float](), shape: [1, 8, 0, 52], type: 1)
        var decoderCache = [OnnxTensor](repeating: empty, count: self.decoderCacheInputs.count)
        var encoderCache = [OnnxTensor](repeating: empty, count: self.encoderCacheInputs.count)
        var tokens = [MoonshineTokenizer.start]
        for step in 0..<limit {
            let first = step == 0
            var inputs: [(name: String, tensor: OnnxTensor)] = [
                ("input_ids", try OnnxTensor(runtime: runtime, [Int64(tokens.last!)], shape: [1, 1], type: 7)),
                ("encoder_hidden_states", hidden),
                ("use_cache_branch", try OnnxTensor(runtime: runtime, [!first], shape: [1], type: 9)),
            ]
            inputs += zip(self.decoderCacheInputs, decoderCache).map { ($0, $1) }
            inputs += zip(self.encoderCacheInputs, encoderCache).map { ($0, $1) }
            let outputs = try self.decoder.run(
                inputs,
                outputs: ["logits"] + self.decoderCacheOutputs + (first ? self.encoderCacheOutputs : [])
            )
            let token = try outputs[0].argmaxOfLastRow(upTo: self.tokenizer.count)
            decoderCache = Array(outputs[1...self.decoderCacheOutputs.count])
            if first { encoderCache = Array(outputs[(1 + self.decoderCacheOutputs.count)...]) }
            if token == MoonshineTokenizer.end { break }
            tokens.append(token)
        }
        return self.tokenizer.decode(tokens)
    }
}
