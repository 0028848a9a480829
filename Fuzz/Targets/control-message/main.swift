// A live stream's text messages as the server reads them: UTF-8 check, JSON object, then the
// start / resume checks field by field, and a call's fields (`POST /calls` takes the same).
// Any bytes give a request or a refusal with a code, never a trap.
import Foundation
import FuzzDriver
import Protocol
import RequestParsing

fuzz { input in
    guard let text = String(validating: input, as: UTF8.self), let fields = JSONValue.object(Data(text.utf8)) else { return }
    switch fields["type"] {
    case .string("start"):
        if let start = try? SessionRequest.start(fields) {
            precondition(StreamFormat.sampleRates.contains(start.format.sampleRate) && (1...2).contains(start.format.channels))
        }
    case .string("resume"):
        if let resume = try? SessionRequest.resume(fields) { precondition(!resume.token.isEmpty && resume.token.utf8.count <= 256) }
    default:
        if let caller = try? CallFields.phone(fields, "caller") { precondition(PhoneNumber.normalise(caller) == caller) }
        _ = try? CallFields.startedAt(fields)
        _ = try? CallFields.isPrivate(fields)
    }
}
