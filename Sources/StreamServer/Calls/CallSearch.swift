import Foundation
import Hummingbird
import RequestParsing

/// The filters of `GET /calls`, as the repository takes them (validated by `SearchFilters`).
struct CallSearch: Sendable, Equatable {
    /// Substring of caller or receiver (separators stripped, at least 2 characters).
    var fragment: String?
    /// Caller or receiver equal to this normalised number.
    var phone: String?
    /// `started_at` bounds: inclusive from, exclusive to.
    var from: Date?
    var to: Date?
    var status: CallStatus?
    var externalID: String?
    /// Words said in the call: results are ranked by how well a segment matches.
    var text: SpokenWords?
    var limit = 50
    var offset = 0

    static let maxLimit = SearchFilters.maxLimit

    init() {}

    init(parameters: Parameters) throws(InputError) {
        try self.init(parameter: { parameters[Substring($0)] })
    }

    /// From named parameters (the query string's, or a gRPC request's fields).
    init(parameter: (String) -> Substring?) throws(InputError) {
        let filters = try SearchFilters(parameter: parameter, statuses: CallStatus.allCases.map(\.rawValue))
        self.fragment = filters.fragment
        self.phone = filters.phone
        self.from = filters.from
        self.to = filters.to
        self.status = filters.status.flatMap(CallStatus.init(rawValue:))
        self.text = filters.text
        self.externalID = filters.externalID
        self.limit = filters.limit
        self.offset = filters.offset
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
