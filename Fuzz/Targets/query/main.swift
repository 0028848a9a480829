// `GET /calls` query parameters, as `name=value&…` (percent-decoded): any query gives filters
// within their bounds or a refusal with a code.
import Foundation
import FuzzDriver
import RequestParsing

fuzz { input in
    let query = String(decoding: input, as: UTF8.self)
    var values: [String: Substring] = [:]
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        values[name] = Substring(value)
    }
    guard let filters = try? SearchFilters(parameter: { values[$0] }, statuses: ["created", "processing", "ready", "failed"]) else { return }
    precondition((1...SearchFilters.maxLimit).contains(filters.limit) && filters.offset >= 0)
    if let fragment = filters.fragment { precondition(fragment.count >= 2) }
}
