import Foundation

/// The filters of `GET /calls`, validated from its query parameters: anything out of range is
/// refused, never guessed.
public struct SearchFilters: Equatable, Sendable {
    /// Substring of caller or receiver (separators stripped, at least 2 characters).
    public var fragment: String?
    /// Caller or receiver equal to this normalised number.
    public var phone: String?
    /// `started_at` bounds: inclusive from, exclusive to.
    public var from: Date?
    public var to: Date?
    public var status: String?
    /// The telephony system's id for the call, exactly.
    public var externalID: String?
    /// Words the call's transcript contains (all of them, anywhere in it).
    public var text: SpokenWords?
    public var limit = 50
    public var offset = 0

    public static let maxLimit = 200

    public init() {}

    /// `parameter` gives a query parameter's value (nil when absent); `statuses` are the
    /// values `status` may take.
    public init(parameter: (String) -> Substring?, statuses: [String]) throws(InputError) {
        if let query = parameter("query") {
            let fragment = PhoneNumber.stripSeparators(String(query))
            guard fragment.count >= 2 else { throw InputError(code: "invalid_query", message: "query must have at least 2 characters") }
            self.fragment = fragment
        }
        if let phone = parameter("phone") {
            guard let number = PhoneNumber.normalise(String(phone)) else {
                throw InputError(code: "invalid_phone", message: "phone must be up to 32 digits with an optional leading +")
            }
            self.phone = number
        }
        self.from = try Self.date(parameter, "from")
        self.to = try Self.date(parameter, "to")
        if let status = parameter("status") {
            guard statuses.contains(String(status)) else {
                throw InputError(code: "invalid_status", message: "status must be one of \(statuses.joined(separator: ", "))")
            }
            self.status = String(status)
        }
        if let externalID = parameter("external_id") {
            guard let id = CallFields.externalID(String(externalID)) else { throw CallFields.invalidExternalID }
            self.externalID = id
        }
        if let text = parameter("text") {
            guard let words = try SpokenWords(text, parameter: "text") else {
                throw InputError(code: "invalid_text", message: "text must have at least one word")
            }
            self.text = words
        }
        self.limit = try Self.integer(parameter, "limit", default: 50, range: 1...Self.maxLimit)
        self.offset = try Self.integer(parameter, "offset", default: 0, range: 0...Int(Int32.max))
    }

    private static func date(_ parameter: (String) -> Substring?, _ name: String) throws(InputError) -> Date? {
        guard let text = parameter(name) else { return nil }
        guard let date = ISO8601.parse(String(text)) else {
            throw InputError(code: "invalid_date", message: "\(name) must be an ISO 8601 date-time, e.g. 2026-11-23T09:30:00Z")
        }
        return date
    }

    private static func integer(_ parameter: (String) -> Substring?, _ name: String, default value: Int, range: ClosedRange<Int>) throws(InputError)
        -> Int
    {
        guard let text = parameter(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw InputError(code: "invalid_\(name)", message: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}
