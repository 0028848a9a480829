import Foundation

/// Silent stretches as `pydub.silence.detect_silence(audio, min_silence_len, silence_thresh,
/// seek_step=1)` finds them, computed as samples stream in, in bounded memory.
///
/// pydub's definition: every window of `minSilenceMs` starting at each millisecond `i`
/// (frames `⌊i·rate/1000⌋ ..< ⌊(i+min)·rate/1000⌋`) whose RMS, truncated to an integer in
/// 16-bit units, is at most `10^(dBFS/20)·32768` is silent; windows that overlap or touch are
/// merged into one range `[first start, last start + min]`. Windows are made of per-millisecond
/// buckets of squared samples, so each step adds one bucket and drops one.
public struct SilenceDetector: Sendable {
    public let sampleRate: Int
    public let minSilenceMs: Int
    private let threshold: Double

    /// Squared-sample sums and frame counts of the last `minSilenceMs` buckets (a ring).
    private var bucketSums: [Double]
    private var bucketFrames: [Int]
    private var windowSum = 0.0
    private var windowFrames = 0
    /// Buckets completed so far, and the one being filled.
    private var completedBuckets = 0
    private var currentSum = 0.0
    private var currentFrames = 0
    private var framesSeen = 0
    private var nextBucketEnd: Int

    private var rangeStart: Int?
    private var lastSilentStart = 0
    private(set) public var marks: [ClosedRange<Int>] = []

    public init(sampleRate: Int, minSilenceMs: Int = 500, thresholdDBFS: Double = -40) {
        precondition(sampleRate > 0 && minSilenceMs > 0)
        self.sampleRate = sampleRate
        self.minSilenceMs = minSilenceMs
        self.threshold = pow(10, thresholdDBFS / 20) * 32768
        self.bucketSums = Array(repeating: 0, count: minSilenceMs)
        self.bucketFrames = Array(repeating: 0, count: minSilenceMs)
        self.nextBucketEnd = Self.frameIndex(ms: 1, rate: sampleRate)
    }

    /// Mono samples scaled to [-1, 1).
    public mutating func append(_ samples: UnsafeBufferPointer<Float>) {
        for sample in samples {
            while self.framesSeen >= self.nextBucketEnd {
                self.closeBucket()
            }
            let value = Double(sample)
            self.currentSum += value * value
            self.currentFrames += 1
            self.framesSeen += 1
        }
    }

    /// Ends the stream and returns the silent ranges in milliseconds.
    public mutating func finish() -> [ClosedRange<Int>] {
        // pydub's length in ms is rounded; its last windows end there, over whatever frames exist.
        let lengthMs = Int((Double(self.framesSeen) * 1000 / Double(self.sampleRate)).rounded(.toNearestOrEven))
        while self.completedBuckets < lengthMs {
            self.closeBucket()
        }
        if let start = self.rangeStart {
            self.marks.append(start...(self.lastSilentStart + self.minSilenceMs))
            self.rangeStart = nil
        }
        return self.marks
    }

    /// Closes the current millisecond bucket and judges the window that it completes.
    private mutating func closeBucket() {
        let slot = self.completedBuckets % self.minSilenceMs
        if self.completedBuckets >= self.minSilenceMs {
            self.windowSum -= self.bucketSums[slot]
            self.windowFrames -= self.bucketFrames[slot]
        }
        self.bucketSums[slot] = self.currentSum
        self.bucketFrames[slot] = self.currentFrames
        self.windowSum += self.currentSum
        self.windowFrames += self.currentFrames
        self.currentSum = 0
        self.currentFrames = 0
        self.completedBuckets += 1
        self.nextBucketEnd = Self.frameIndex(ms: self.completedBuckets + 1, rate: self.sampleRate)
        if self.completedBuckets >= self.minSilenceMs {
            self.judge(windowStart: self.completedBuckets - self.minSilenceMs)
        }
    }

    private mutating func judge(windowStart: Int) {
        // Rounding noise of the running sum must not make an all-zero window non-silent.
        let meanSquare = self.windowFrames > 0 ? max(self.windowSum, 0) / Double(self.windowFrames) : 0
        let rms = (meanSquare.squareRoot() * 32768).rounded(.down)
        guard rms <= self.threshold else { return }
        if let start = self.rangeStart {
            let continuous = windowStart == self.lastSilentStart + 1
            let gap = windowStart > self.lastSilentStart + self.minSilenceMs
            if !continuous && gap {
                self.marks.append(start...(self.lastSilentStart + self.minSilenceMs))
                self.rangeStart = windowStart
            }
        } else {
            self.rangeStart = windowStart
        }
        self.lastSilentStart = windowStart
    }

    private static func frameIndex(ms: Int, rate: Int) -> Int {
        ms * rate / 1000
    }
}
