import NIOCore

/// When each session on one event loop sends its next chunk: a heap of due times, with one NIO
/// timer at a time for the earliest. It replaces a NIO timer per session per chunk. NIO keeps
/// its timers in a heap of `ScheduledTask`s (a closure, a promise, a deadline), and copying
/// those while scheduling and firing 5,000 of them a second on a loop was about 8 % of the
/// load client's CPU; these entries are 16 bytes. Sends happen at the same instants as before.
///
/// Confinement: used only on `eventLoop` (sessions schedule from their own loop).
final class SendPacer: @unchecked Sendable {
    /// Something that sends when it is due; `ticket` tells a stale entry from the current one.
    protocol Client: AnyObject {
        func due(ticket: UInt32)
    }

    private struct Entry {
        var deadline: NIODeadline
        var client: Int32
        var ticket: UInt32
    }

    private let eventLoop: any EventLoop
    private var clients: [any Client] = []
    private var heap: [Entry] = []
    /// Deadlines of the NIO timers not yet fired (rarely more than one).
    private var armed: [NIODeadline] = []

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Adds a client; its number is what `schedule` takes.
    func register(_ client: any Client) -> Int32 {
        self.eventLoop.preconditionInEventLoop()
        self.clients.append(client)
        return Int32(self.clients.count - 1)
    }

    /// Calls `client`'s `due(ticket:)` at `deadline`. An entry is never removed: a client that
    /// changes its mind takes a new ticket and ignores the old one when it comes.
    func schedule(_ client: Int32, at deadline: NIODeadline, ticket: UInt32) {
        self.eventLoop.preconditionInEventLoop()
        self.push(Entry(deadline: deadline, client: client, ticket: ticket))
        self.arm()
    }

    private func fire(_ deadline: NIODeadline) {
        if let index = self.armed.firstIndex(of: deadline) { self.armed.remove(at: index) }
        // A timer never fires early; the clock read can only add entries that are due too.
        let now = max(NIODeadline.now(), deadline)
        while let first = self.heap.first, first.deadline <= now {
            self.popFirst()
            self.clients[Int(first.client)].due(ticket: first.ticket)
        }
        self.arm()
    }

    /// Makes sure a timer is set for the earliest entry.
    private func arm() {
        guard let first = self.heap.first else { return }
        if let earliest = self.armed.min(), earliest <= first.deadline { return }
        let deadline = first.deadline
        self.armed.append(deadline)
        self.eventLoop.scheduleTask(deadline: deadline) { self.fire(deadline) }
    }

    // MARK: the heap (earliest first)

    private func push(_ entry: Entry) {
        self.heap.append(entry)
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].deadline < self.heap[parent].deadline else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popFirst() {
        let last = self.heap.removeLast()
        guard !self.heap.isEmpty else { return }
        self.heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < self.heap.count else { break }
            let right = left + 1
            let child = right < self.heap.count && self.heap[right].deadline < self.heap[left].deadline ? right : left
            guard self.heap[child].deadline < self.heap[parent].deadline else { break }
            self.heap.swapAt(child, parent)
            parent = child
        }
    }
}
