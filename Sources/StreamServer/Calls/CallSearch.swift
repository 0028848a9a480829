import Foundation
import Hummingbird

/// The filters of `GET /calls`, validated: anything out of range is a 422, never a guess.
struct CallSearch: Sendable, Equatable {
    /// Substring of caller or receiver (separators stripped, at least 2 characters).
    var fragment: String?
    /// Caller or receiver equal to this normalised number.
    var phone: String?
    /// `started_at` bounds: inclusive from, exclusive to.
    var from: Date?
    var to: Date?
    var status: CallStatus?
    var limit = 50
    var offset = 0

    static let maxLimit = 200

    init() {}

    init(parameters: Parameters) throws {
        if let query = parameters["query"] {
            let fragment = PhoneNumber.stripSeparators(String(query))
            guard fragment.count >= 2 else {
                throw APIError(.unprocessableContent, code: "invalid_query", message: "query must have at least 2 characters")
            }
            self.fragment = fragment
        }
        if let phone = parameters["phone"] {
            guard let number = PhoneNumber.normalise(String(phone)) else {
                throw APIError(.unprocessableContent, code: "invalid_phone", message: "phone must be up to 32 digits with an optional leading +")
            }
            self.phone = number
        }
        self.from = try Self.date(parameters, "from")
        self.to = try Self.date(parameters, "to")
        if let status = parameters["status"] {
            guard let value = CallStatus(rawValue: String(status)) else {
                throw APIError(.unprocessableContent, code: "invalid_status", message: "status must be one of created, processing, ready, failed")
            }
            self.status = value
        }
        self.limit = try Self.integer(parameters, "limit", default: 50, range: 1...Self.maxLimit)
        self.offset = try Self.integer(parameters, "offset", default: 0, range: 0...Int(Int32.max))
    }

    private static func date(_ parameters: Parameters, _ name: String) throws -> Date? {
        guard let text = parameters.get(name) else { return nil }
        guard let date = ISO8601.parse(String(text)) else {
            throw APIError(.unprocessableContent, code: "invalid_date", message: "\(name) must be an ISO 8601 date-time, e.g. 2026-11-23T09:30:00Z")
        }
        return date
    }

    private static func integer(_ parameters: Parameters, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = parameters.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(
                .unprocessableContent,
                code: "invalid_\(name)",
                message: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return number
    }
}

/// One page of search results, and how many match in all.
struct CallPage: Sendable {
    var total: Int
    var items: [CallWithRecording]
}

struct CallWithRecording: Sendable, Equatable {
    var call: Call
    var recording: Recording?
}
