import NIOCore
import NIOPosix
import Testing

@testable import LoadClient

@Suite struct SendPacerTests {
    /// Records each call with the time it came; used only on the pacer's loop.
    final class Recorder: SendPacer.Client, @unchecked Sendable {
        struct Call {
            let client: Int
            let ticket: UInt32
            let at: NIODeadline
        }

        let name: Int
        let log: Log
        init(name: Int, log: Log) {
            self.name = name
            self.log = log
        }

        func due(ticket: UInt32) {
            self.log.calls.append(Call(client: self.name, ticket: ticket, at: .now()))
            if self.log.calls.count == self.log.expected { self.log.done.succeed() }
        }
    }

    final class Log: @unchecked Sendable {
        var calls: [Recorder.Call] = []
        let expected: Int
        let done: EventLoopPromise<Void>
        init(expected: Int, done: EventLoopPromise<Void>) {
            self.expected = expected
            self.done = done
        }
    }

    /// Schedules `entries` (client, delay, ticket) on a fresh pacer, in the order given, and
    /// returns every call once all have come, with each entry's deadline.
    private func run(_ entries: [(client: Int, delay: TimeAmount, ticket: UInt32)]) async throws -> ([Recorder.Call], [UInt32: NIODeadline]) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let log = Log(expected: entries.count, done: loop.makePromise())
        let deadlines = try await loop.submit {
            let pacer = SendPacer(eventLoop: loop)
            let clientCount = (entries.map(\.client).max() ?? -1) + 1
            let numbers = (0..<clientCount).map { pacer.register(Recorder(name: $0, log: log)) }
            let start = NIODeadline.now()
            var deadlines: [UInt32: NIODeadline] = [:]
            for entry in entries {
                deadlines[entry.ticket] = start + entry.delay
                pacer.schedule(numbers[entry.client], at: start + entry.delay, ticket: entry.ticket)
            }
            return deadlines
        }.get()
        try await log.done.futureResult.get()
        return try await loop.submit { (log.calls, deadlines) }.get()
    }

    @Test func callsComeInDeadlineOrderAndNeverEarly() async throws {
        // 300 entries over 60 ms, scheduled out of order, several clients sharing deadlines.
        var generator = SystemRandomNumberGenerator()
        let entries = (0..<300).map { index in
            (client: index % 7, delay: TimeAmount.microseconds(Int64.random(in: 0..<60_000, using: &generator)), ticket: UInt32(index))
        }
        let (calls, deadlines) = try await self.run(entries)
        #expect(calls.count == entries.count)
        #expect(Set(calls.map(\.ticket)).count == entries.count, "each entry exactly once")
        for call in calls {
            let deadline = try #require(deadlines[call.ticket])
            #expect(call.at >= deadline, "ticket \(call.ticket) came early")
            #expect(entries[Int(call.ticket)].client == call.client, "ticket \(call.ticket) went to the wrong client")
        }
        let order = calls.compactMap { deadlines[$0.ticket] }
        #expect(zip(order, order.dropFirst()).allSatisfy { $0 <= $1 }, "calls out of deadline order")
    }

    @Test func anEarlierEntryDoesNotWaitForTheTimerOfALaterOne() async throws {
        // The later entry arms the only timer; the earlier one, scheduled after it, needs its own.
        let (calls, deadlines) = try await self.run([(client: 0, delay: .seconds(1), ticket: 1), (client: 1, delay: .milliseconds(5), ticket: 2)])
        #expect(calls.map(\.ticket) == [2, 1])
        let early = try #require(calls.first)
        #expect(early.at < deadlines[1]!, "the early entry waited for the late one's timer")
    }

    @Test func aStaleEntryStillComesAndItsClientTellsItByTicket() async throws {
        // A client that rescheduled gets both calls; the ticket says which one is current.
        let (calls, _) = try await self.run([(client: 0, delay: .milliseconds(20), ticket: 1), (client: 0, delay: .milliseconds(10), ticket: 2)])
        #expect(calls.map(\.ticket) == [2, 1])
        #expect(calls.allSatisfy { $0.client == 0 })
    }
}
