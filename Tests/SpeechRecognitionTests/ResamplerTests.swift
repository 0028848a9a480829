import Foundation
import SpeechRecognition
import Testing

@Suite struct ResamplerTests {
    static func tone(hz: Double, rate: Int, seconds: Double) -> [Float] {
        (0..<Int(Double(rate) * seconds)).map { index in
            let phase = 2 * Double.pi * hz * Double(index) / Double(rate)
            return Float(0.5 * sin(phase))
        }
    }

    static func rms(_ samples: ArraySlice<Float>) -> Float {
        let energy = samples.reduce(Float(0)) { sum, sample in sum + sample * sample }
        return (energy / Float(max(samples.count, 1))).squareRoot()
    }

    static func resample(_ input: [Float], from rate: Int, chunk: Int) -> [Float] {
        var resampler = Resampler(from: rate, to: 16_000)
        var output: [Float] = []
        var start = 0
        while start < input.count {
            resampler.process(input[start..<min(input.count, start + chunk)], into: &output)
            start += chunk
        }
        resampler.finish(into: &output)
        return output
    }

    @Test(arguments: [8000, 11_025, 22_050, 44_100, 48_000])
    func aToneKeepsItsPitchAndLevel(rate: Int) {
        let output = Self.resample(Self.tone(hz: 1000, rate: rate, seconds: 1), from: rate, chunk: 1234)
        #expect(output.count == 16_000)
        // A 1 kHz tone at 16 kHz: 16 samples a cycle, 2,000 sign changes a second.
        let middle = output[1000..<15_000]
        let crossings = zip(middle, middle.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
        #expect(abs(crossings - 1750) <= 2)
        #expect(abs(Self.rms(middle) - 0.3536) < 0.01)
        // Sample for sample on the expected sine, after the filter (which has no delay).
        var worst: Float = 0
        for index in middle.indices {
            let expected = Float(0.5 * sin(2 * Double.pi * 1000 * Double(index) / 16_000))
            worst = max(worst, abs(middle[index] - expected))
        }
        #expect(worst < 0.01)
    }

    @Test func whatTheNewRateCannotHoldIsFilteredOut() {
        // 12 kHz is above 16 kHz's Nyquist frequency: it must not fold back as a 4 kHz tone.
        let output = Self.resample(Self.tone(hz: 12_000, rate: 48_000, seconds: 1), from: 48_000, chunk: 4096)
        #expect(Self.rms(output[1000..<15_000]) < 0.3536 * 0.01)
    }

    @Test func chunkingDoesNotChangeTheOutput() throws {
        let (samples, rate) = try TestAudio.mono("call30_8k.wav")
        let whole = Self.resample(samples, from: rate, chunk: samples.count)
        let chunked = Self.resample(samples, from: rate, chunk: 160)
        #expect(whole.count == samples.count * 2)
        #expect(whole == chunked)
    }

    @Test func sixteenKilohertzPassesThrough() {
        let input = Self.tone(hz: 440, rate: 16_000, seconds: 0.5)
        #expect(Self.resample(input, from: 16_000, chunk: 100) == input)
    }
}
