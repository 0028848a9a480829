import Foundation

/// One Moonshine model serves a worker's live finals and its analyses, one decode at a time.
/// Live finals go first: an analysis (a whole uploaded recording, segment by segment) starts
/// its next segment only when no live segment is queued, so an upload delays a live final by
/// at most the one segment being decoded.
final class ModelGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var busy = false
    /// Live segments queued for decoding, or waiting for the model.
    private var liveQueued = 0

    /// A live segment was queued (its decode will follow).
    func liveSegmentQueued() {
        self.condition.lock()
        self.liveQueued += 1
        self.condition.unlock()
    }

    /// Runs `body` with the model: at once for live work (after any decode in progress),
    /// after the live queue has emptied for background work. `live` calls must each follow a
    /// `liveSegmentQueued`.
    func withModel<T>(live: Bool, _ body: () throws -> T) rethrows -> T {
        self.condition.lock()
        while self.busy || (!live && self.liveQueued > 0) {
            self.condition.wait()
        }
        self.busy = true
        self.condition.unlock()
        defer {
            self.condition.lock()
            self.busy = false
            if live { self.liveQueued -= 1 }
            self.condition.broadcast()
            self.condition.unlock()
        }
        return try body()
    }
}
