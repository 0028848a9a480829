import Foundation

/// Dates on the API: ISO 8601 in; out, see `Timestamp.iso8601`.
public enum ISO8601 {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()
    private static let dateOnly = Date.ISO8601FormatStyle().year().month().day()

    /// A date-time with a zone (`Z` or `±hh:mm`), with or without fractional seconds, or a
    /// plain date (midnight UTC).
    public static func parse(_ text: String) -> Date? {
        // RFC 3339 allows a lower-case `t` and `z`; Foundation's parser does not.
        let text = text.uppercased()
        if let date = try? Self.withoutFraction.parse(text) { return date }
        if let date = try? Self.withFraction.parse(text) { return date }
        if text.count == 10, let date = try? Self.dateOnly.parse(text) { return date }
        return nil
    }

    /// `2026-11-23T09:30:00Z` (whole seconds, UTC).
    public static func formatSeconds(_ date: Date) -> String {
        Self.withoutFraction.format(date)
    }
}
