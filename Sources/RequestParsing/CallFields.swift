import Foundation

/// The checks a new call's fields go through, wherever the call is made (`POST /calls`, a live
/// session's `start`): the same normalisation and the same error codes.
public enum CallFields {
    public static func phone(_ fields: [String: JSONValue], _ name: String) throws(InputError) -> String {
        guard case .string(let text) = fields[name], let number = PhoneNumber.normalise(text) else {
            throw InputError(
                code: "invalid_phone",
                message: "\(name) must be up to 32 digits with an optional leading + (spaces, dashes and brackets are ignored)"
            )
        }
        return number
    }

    public static func startedAt(_ fields: [String: JSONValue]) throws(InputError) -> Date {
        guard case .string(let text) = fields["started_at"], let date = ISO8601.parse(text) else {
            throw InputError(code: "invalid_date", message: "started_at must be an ISO 8601 date-time, e.g. 2026-11-23T09:30:00Z")
        }
        return date
    }

    public static func isPrivate(_ fields: [String: JSONValue]) throws(InputError) -> Bool {
        switch fields["private"] {
        case nil: return false
        case .bool(let value): return value
        default: throw InputError(code: "invalid_private", message: "private must be true or false")
        }
    }
}
