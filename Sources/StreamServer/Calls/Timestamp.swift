import RequestParsing
import Foundation
import GRDB

/// A point in time to the millisecond, kept as epoch milliseconds: exact in SQLite (integer
/// range scans) and in JSON. `Date` is a binary floating-point number, and converting it back
/// and forth (GRDB floors on write) can lose a millisecond on every round trip.
struct Timestamp: Codable, Hashable, Comparable, Sendable, DatabaseValueConvertible {
    var milliseconds: Int64

    init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// The nearest millisecond.
    init(_ date: Date) {
        self.milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static var now: Timestamp { Timestamp(Date()) }

    /// ISO 8601 in UTC with exactly three decimals, e.g. `2026-11-23T09:30:00.123Z`.
    var iso8601: String {
        let (seconds, fraction) = self.milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, millis) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let text = ISO8601.formatSeconds(Date(timeIntervalSince1970: TimeInterval(wholeSeconds)))
        return text.dropLast() + "." + String(format: "%03d", Int(millis)) + "Z"
    }

    static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    init(from decoder: any Decoder) throws {
        self.milliseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.milliseconds)
    }

    var databaseValue: DatabaseValue { self.milliseconds.databaseValue }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Timestamp? {
        Int64.fromDatabaseValue(dbValue).map(Timestamp.init(milliseconds:))
    }
}
