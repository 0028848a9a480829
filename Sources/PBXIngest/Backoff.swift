/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … up to `maximum`, each wait drawn
/// from [½·d, d] so that many pbx-ingests do not retry in step after an outage.
struct Backoff: Sendable {
    var initial = 0.5
    var maximum = 30.0
    private(set) var attempt = 0

    init(maximum: Double) {
        self.maximum = maximum
    }

    mutating func next() -> Duration {
        let ceiling = min(self.maximum, self.initial * Double(1 << min(self.attempt, 20)))
        self.attempt += 1
        return .milliseconds(Int64(Double.random(in: (ceiling / 2)...ceiling) * 1000))
    }
}
