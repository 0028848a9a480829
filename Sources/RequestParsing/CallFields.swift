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

    /// A telephony system's own id for the call (Twilio's `CallSid`, Asterisk's channel UUID,
    /// a PBX's record id): optional, 1 to 128 printable ASCII characters, no leading or trailing
    /// space, kept as given.
    public static func externalID(_ fields: [String: JSONValue]) throws(InputError) -> String? {
        switch fields["external_id"] {
        case nil, .null: return nil
        case .string(let text):
            guard let id = Self.externalID(text) else { throw Self.invalidExternalID }
            return id
        default: throw Self.invalidExternalID
        }
    }

    /// `text` if it is a valid external id.
    public static func externalID(_ text: String) -> String? {
        let bytes = text.utf8
        guard (1...128).contains(bytes.count), bytes.allSatisfy({ (0x20...0x7e).contains($0) }), bytes.first != 0x20, bytes.last != 0x20 else {
            return nil
        }
        return text
    }

    static let invalidExternalID = InputError(
        code: "invalid_external_id",
        message: "external_id must be 1 to 128 printable ASCII characters without leading or trailing spaces"
    )

    public static func isPrivate(_ fields: [String: JSONValue]) throws(InputError) -> Bool {
        switch fields["private"] {
        case nil: return false
        case .bool(let value): return value
        default: throw InputError(code: "invalid_private", message: "private must be true or false")
        }
    }
}
