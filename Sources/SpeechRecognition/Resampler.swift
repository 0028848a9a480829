import Foundation

/// Streaming sample-rate conversion of mono float audio to another rate (here: any telephony
/// or studio rate to the engines' 16 kHz): a polyphase windowed-sinc filter. Memory is the
/// filter table plus one filter's width of input, whatever the stream's length.
public struct Resampler: Sendable {
    public let inputRate: Int
    public let outputRate: Int
    /// The rate ratio in lowest terms: `up` outputs for every `down` inputs.
    private let up: Int
    private let down: Int
    /// Taps either side of an output instant, in input samples.
    private let half: Int
    /// `up` phases of `2 * half` taps each.
    private let table: [Float]
    /// Input not yet consumed, starting at absolute input index `bufferStart`.
    private var buffer: [Float]
    private var bufferStart = 0
    /// The next output's index, and how many inputs came in.
    private var produced = 0
    private var consumed = 0

    /// `zeroCrossings` sets the filter length (quality against cost).
    public init(from inputRate: Int, to outputRate: Int, zeroCrossings: Int = 16) {
        precondition(inputRate > 0 && outputRate > 0)
        self.inputRate = inputRate
        self.outputRate = outputRate
        let divisor = gcd(inputRate, outputRate)
        self.up = outputRate / divisor
        self.down = inputRate / divisor
        // Cut off just below the lower Nyquist frequency, in input-sample units.
        let cutoff = 0.95 * min(1.0, Double(outputRate) / Double(inputRate))
        self.half = Int((Double(zeroCrossings) / cutoff).rounded(.up))
        var table = [Float](repeating: 0, count: self.up * 2 * self.half)
        for phase in 0..<self.up {
            let fraction = Double(phase) / Double(self.up)
            for tap in 0..<(2 * self.half) {
                // Tap `tap` weighs input i + k, k = tap - half + 1, at distance fraction - k.
                let x = fraction - Double(tap - self.half + 1)
                table[phase * 2 * self.half + tap] = Float(cutoff * sinc(cutoff * x) * blackman(x, halfWidth: Double(self.half)))
            }
        }
        self.table = table
        // Zeros before the first sample, so the first outputs have their left taps.
        self.buffer = [Float](repeating: 0, count: self.half - 1)
        self.bufferStart = -(self.half - 1)
    }

    /// Converts `input`, appending what can be computed so far to `output`.
    public mutating func process(_ input: some Collection<Float>, into output: inout [Float]) {
        guard self.up != self.down else {
            output.append(contentsOf: input)
            return
        }
        self.buffer.append(contentsOf: input)
        self.consumed += input.count
        self.drain(into: &output, limit: Int.max)
    }

    /// Ends the stream: the last outputs, computed against silence after the input.
    public mutating func finish(into output: inout [Float]) {
        guard self.up != self.down else { return }
        self.buffer.append(contentsOf: repeatElement(0, count: self.half))
        let total = (self.consumed * self.up + self.down - 1) / self.down
        self.drain(into: &output, limit: total)
    }

    private mutating func drain(into output: inout [Float], limit: Int) {
        let width = 2 * self.half
        let available = self.bufferStart + self.buffer.count
        self.table.withUnsafeBufferPointer { table in
            self.buffer.withUnsafeBufferPointer { buffer in
                while self.produced < limit {
                    let position = self.produced * self.down
                    let index = position / self.up
                    // The last tap reads input index + half.
                    guard index + self.half < available else { break }
                    let phase = position % self.up
                    let first = index - self.half + 1 - self.bufferStart
                    var sum: Float = 0
                    for tap in 0..<width {
                        sum += table[phase * width + tap] * buffer[first + tap]
                    }
                    output.append(sum)
                    self.produced += 1
                }
            }
        }
        // Keep only what the next output's left taps still need.
        let keepFrom = (self.produced * self.down) / self.up - self.half + 1
        let drop = min(max(0, keepFrom - self.bufferStart), self.buffer.count)
        if drop > 0 {
            self.buffer.removeFirst(drop)
            self.bufferStart += drop
        }
    }
}

private func gcd(_ a: Int, _ b: Int) -> Int {
    b == 0 ? a : gcd(b, a % b)
}

private func sinc(_ x: Double) -> Double {
    x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x)
}

/// The Blackman window over [-halfWidth, halfWidth], zero outside.
private func blackman(_ x: Double, halfWidth: Double) -> Double {
    guard abs(x) < halfWidth else { return 0 }
    let t = Double.pi * x / halfWidth
    return 0.42 + 0.5 * cos(t) + 0.08 * cos(2 * t)
}
