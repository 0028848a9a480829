import Foundation

/// The JSON file a PBX writes beside a finished recording (`pbx-ingest`), in one of two shapes:
///
/// - a flat object: `{"caller","receiver","started_at","private"?,"external_id"?}`, with
///   `started_at` as ISO 8601 (or Unix seconds);
/// - a FreeSWITCH `mod_json_cdr` record: `variables.caller_id_number`,
///   `variables.destination_number`, `variables.start_epoch` (else `start_stamp`, the PBX's
///   local time), `variables.uuid` as the external id. mod_json_cdr URL-encodes values by
///   default (`encode-values`), so they are decoded.
///
/// Numbers and dates are checked by the server as for any call; here only the shape is.
public struct PBXMetadata: Equatable, Sendable {
    public var caller: String
    public var receiver: String
    /// ISO 8601, as the API takes it.
    public var startedAt: String
    public var isPrivate: Bool
    public var externalID: String?

    public struct Invalid: Error, Equatable, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func parse(_ data: Data, timeZone: TimeZone = .current) throws(Invalid) -> PBXMetadata {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Invalid(description: "the metadata file is not a JSON object")
        }
        if let variables = object["variables"] as? [String: Any] {
            return try Self.freeSWITCH(variables, timeZone: timeZone)
        }
        guard let caller = object["caller"] as? String, let receiver = object["receiver"] as? String else {
            throw Invalid(description: "caller and receiver must be strings (or the file a FreeSWITCH JSON CDR with variables)")
        }
        let startedAt: String
        switch object["started_at"] {
        case let text as String where !text.isEmpty: startedAt = text
        case let seconds as Double where seconds > 0: startedAt = Self.iso8601(seconds)
        default: throw Invalid(description: "started_at must be an ISO 8601 date-time or Unix seconds")
        }
        var isPrivate = false
        if let value = object["private"] {
            guard let flag = value as? Bool else {
                throw Invalid(description: "private must be true or false")
            }
            isPrivate = flag
        }
        var externalID: String?
        if let value = object["external_id"], !(value is NSNull) {
            guard let text = value as? String else { throw Invalid(description: "external_id must be a string") }
            externalID = text
        }
        return PBXMetadata(caller: caller, receiver: receiver, startedAt: startedAt, isPrivate: isPrivate, externalID: externalID)
    }

    private static func freeSWITCH(_ variables: [String: Any], timeZone: TimeZone) throws(Invalid) -> PBXMetadata {
        func value(_ name: String) -> String? {
            guard let raw = variables[name] as? String, !raw.isEmpty else { return nil }
            return raw.removingPercentEncoding ?? raw
        }
        guard let caller = value("caller_id_number"), let receiver = value("destination_number") else {
            throw Invalid(description: "a FreeSWITCH CDR needs variables.caller_id_number and variables.destination_number")
        }
        let startedAt: String
        if let epoch = value("start_epoch").flatMap(Double.init), epoch > 0 {
            startedAt = Self.iso8601(epoch)
        } else if let stamp = value("start_stamp").flatMap({ Self.localStamp($0, timeZone: timeZone) }) {
            startedAt = Self.iso8601(stamp.timeIntervalSince1970)
        } else {
            throw Invalid(description: "a FreeSWITCH CDR needs variables.start_epoch or start_stamp")
        }
        return PBXMetadata(caller: caller, receiver: receiver, startedAt: startedAt, isPrivate: false, externalID: value("uuid"))
    }

    /// `2026-12-04 09:30:00` in the PBX's time zone (FreeSWITCH's `start_stamp`).
    private static func localStamp(_ text: String, timeZone: TimeZone) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.date(from: text)
    }

    private static func iso8601(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    /// The call's fields for `CreateCall`.
    public init(caller: String, receiver: String, startedAt: String, isPrivate: Bool, externalID: String?) {
        self.caller = caller
        self.receiver = receiver
        self.startedAt = startedAt
        self.isPrivate = isPrivate
        self.externalID = externalID
    }
}
