import NIOCore

/// How old a session's write batch is: it leaves once its oldest data is `maxAge` old, checked
/// as data arrives and by the sessions' sweep. Each session so flushes at moments of its own;
/// a sweep that flushed every session at one tick wrote 2,000 batches at once at 1,000 sessions,
/// and that burst was most of load (a)'s latency tail.
struct BatchAge {
    let maxAge: TimeAmount
    /// When the oldest data of the batch arrived; nil while the batch is empty.
    private var since: NIODeadline?

    init(maxAge: TimeAmount) {
        self.maxAge = maxAge
    }

    /// Data joined the batch at `now`: whether the batch is old enough to leave.
    mutating func added(at now: NIODeadline) -> Bool {
        if self.since == nil { self.since = now }
        return self.isStale(at: now)
    }

    func isStale(at now: NIODeadline) -> Bool {
        guard let since = self.since else { return false }
        return now - since >= self.maxAge
    }

    /// The batch left.
    mutating func reset() {
        self.since = nil
    }
}
