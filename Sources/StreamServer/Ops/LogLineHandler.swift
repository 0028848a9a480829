import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The server's log output: one line per message on stderr, as text or as a JSON object.
///
/// Privacy is enforced here, for every logger: phone numbers (metadata `caller`, `receiver`,
/// `phone`) are masked unless `--log-pii`, and secrets (`resume_token`, `token`,
/// `authorization`) are dropped whatever is logged.
struct LogLineHandler: LogHandler {
    enum Format: String, CaseIterable, Sendable {
        case text, json
    }

    struct Settings: Sendable {
        var format = Format.text
        var showPII = false
    }

    static let phoneKeys: Set<String> = ["caller", "receiver", "phone"]
    static let secretKeys: Set<String> = ["resume_token", "token", "authorization"]
    /// Lines from many threads must not interleave: each is written whole, under this lock.
    private static let output = NIOLock()

    let label: String
    let settings: Settings
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, settings: Settings) {
        self.label = label
        self.settings = settings
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = self.metadata
        if let provided = self.metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        // Hummingbird's own request id duplicates ours (`request_id`).
        fields["hb.request.id"] = nil
        if let error = event.error { fields["error"] = "\(error)" }
        var values: [(String, String)] = []
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !Self.secretKeys.contains(key) {
            let text = "\(value)"
            values.append((key, Self.phoneKeys.contains(key) && !self.settings.showPII ? PhoneMasking.mask(text) : text))
        }
        let time = Self.timestamp()
        let line: String
        switch self.settings.format {
        case .text:
            let rendered = values.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            line = "\(time) \(event.level) \(self.label):\(rendered.isEmpty ? "" : " " + rendered) [\(event.source)] \(event.message)\n"
        case .json:
            var json = #"{"time":"\#(time)","level":"\#(event.level)","message":\#(Self.quoted("\(event.message)"))"#
            for (key, value) in values {
                json += ",\(Self.quoted(key)):\(Self.quoted(value))"
            }
            line = json + "}\n"
        }
        Self.output.withLock {
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    /// UTC, milliseconds: `2026-12-01T23:52:42.123Z`.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = now.tv_nsec / 1_000_000
        let fraction = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Phone numbers in logs: `+79161234567` → `+7******4567` (the country's first digit and the
/// last four stay, so an operator can still tell calls apart).
enum PhoneMasking {
    static func mask(_ number: String) -> String {
        let characters = Array(number)
        let digits = characters.filter(\.isNumber).count
        guard digits > 5 else { return String(repeating: "*", count: characters.count) }
        var seenDigits = 0
        var masked = ""
        for character in characters {
            guard character.isNumber else {
                masked.append(character)
                continue
            }
            seenDigits += 1
            masked.append(seenDigits == 1 || seenDigits > digits - 4 ? character : "*")
        }
        return masked
    }
}
