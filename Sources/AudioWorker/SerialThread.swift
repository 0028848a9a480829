import Foundation
import ThreadScheduling

/// A thread of its own that handles submitted items one at a time, in the order they came.
/// `finish()` returns once every item submitted before it has been handled, and ends the
/// thread.
final class SerialThread<Item>: @unchecked Sendable {
    private let handle: (Item) -> Void
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var busy = false
    private var closing = false

    /// `background`: the thread runs at `BackgroundPriority`.
    init(name: String, background: Bool, handle: @escaping (Item) -> Void) {
        self.handle = handle
        Thread { [self] in
            CurrentThread.setName(name)
            if background { BackgroundPriority.lowerCurrentThread() }
            self.loop()
        }.start()
    }

    func submit(_ item: Item) {
        self.condition.lock()
        self.queue.append(item)
        self.condition.broadcast()
        self.condition.unlock()
    }

    func finish() {
        self.condition.lock()
        self.closing = true
        self.condition.broadcast()
        while self.busy || !self.queue.isEmpty {
            self.condition.wait()
        }
        self.condition.unlock()
    }

    private func loop() {
        while true {
            self.condition.lock()
            while self.queue.isEmpty {
                if self.closing {
                    self.condition.unlock()
                    return
                }
                self.condition.wait()
            }
            let item = self.queue.removeFirst()
            self.busy = true
            self.condition.unlock()

            self.handle(item)

            self.condition.lock()
            self.busy = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
