import AudioAnalysis
import Foundation
import SpeechRecognition

/// The shared test recordings and their known answers.
enum TestAudio {
    static let projectDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let audioDirectory = projectDirectory.deletingLastPathComponent().appendingPathComponent("shared/audio")

    /// Where `make setup` links the moonshine-cpp wheel's folder.
    static var moonshineDirectory: String {
        ProcessInfo.processInfo.environment["CALLSTREAM_MOONSHINE_DIR"] ?? projectDirectory.appendingPathComponent(".venv/moonshine").path
    }

    /// A recording as mono samples and its rate.
    static func mono(_ name: String) throws -> (samples: [Float], rate: Int) {
        let decoder = try WAVDecoder(path: audioDirectory.appendingPathComponent(name).path)
        var samples: [Float] = []
        _ = try decoder.decodeMono { samples.append(contentsOf: $0) }
        return (samples, decoder.header.sampleRate)
    }

    /// call30.json: the spoken sentences and the speech spans in milliseconds.
    static func call30Answers() throws -> (text: String, spans: [(Int, Int)]) {
        let data = try Data(contentsOf: audioDirectory.appendingPathComponent("call30.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        let sentences = json["sentences"] as? [String] ?? []
        let spans = (json["speech_spans_ms"] as? [[Int]] ?? []).map { ($0[0], $0[1]) }
        return (sentences.joined(separator: " "), spans)
    }

    /// A recording at 16 kHz, resampled if need be.
    static func at16k(_ name: String) throws -> [Float] {
        let (samples, rate) = try mono(name)
        var resampler = Resampler(from: rate, to: 16_000)
        var output: [Float] = []
        resampler.process(samples, into: &output)
        resampler.finish(into: &output)
        return output
    }
}
