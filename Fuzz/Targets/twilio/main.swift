// Twilio Media Streams' text messages as `/api/twilio/ws` reads them: any bytes give a
// message (a start becomes a session or a refusal with a code) or a named reason to skip it,
// never a trap.
import Foundation
import FuzzDriver
import Protocol
import Telephony

fuzz { input in
    let parsed = Result { () throws(TwilioMessage.Invalid) in try TwilioMessage.parse(Data(input)) }
    // The fast path for media answers exactly what the full parser answers.
    let decoded = Result { () throws(TwilioMessage.Invalid) in try TwilioMessage.parseDecoding(Data(input)) }
    // Two refusals need not name the same reason: with several bad fields, JSONDecoder reports
    // whichever it meets first, and its order is a dictionary's.
    switch (parsed, decoded) {
    case (.success(let fast), .success(let full)): precondition(fast == full, "fast path and decoder disagree")
    case (.failure, .failure): break
    default: preconditionFailure("fast path and decoder disagree")
    }
    guard let message = try? parsed.get() else { return }
    switch message {
    case .start(let start):
        precondition((1...2).contains(start.channelCount))
        if let session = try? start.session() {
            precondition(session.start.format.codec == .mulaw && session.start.format.channels == start.channelCount)
        }
    case .media(let media):
        // After a packet at 0, this one wherever its timestamp says.
        var aligner = TrackAligner(channels: 2)
        _ = try? aligner.add(track: 0, timestampMs: 0, samples: [UInt8](repeating: 0xFF, count: 160))
        for chunk in (try? aligner.add(track: media.track == .inbound ? 0 : 1, timestampMs: media.timestampMs, samples: media.payload)) ?? [] {
            precondition(chunk.count == 1_600)
        }
    default:
        break
    }
}
