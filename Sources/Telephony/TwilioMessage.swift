import Foundation
import Protocol
import RequestParsing

/// One message of Twilio's Media Streams WebSocket protocol: a JSON text message with an
/// `event`. Twilio sends `sequenceNumber`, `media.chunk` and `media.timestamp` as JSON strings;
/// numbers are taken too (SignalWire and Telnyx, whose streams are close relatives, are less
/// consistent about it).
public enum TwilioMessage: Equatable, Sendable {
    case connected
    case start(Start)
    case media(Media)
    case dtmf(digit: String)
    case mark(name: String)
    case stop

    public enum Track: String, Sendable {
        case inbound, outbound
    }

    /// `start`: the stream's ids, its tracks and format, and the TwiML `<Parameter>`s.
    public struct Start: Equatable, Sendable {
        public var streamSid: String
        public var callSid: String
        public var tracks: [Track]
        public var encoding: String
        public var sampleRate: Int
        public var channels: Int
        public var customParameters: [String: String]
    }

    /// `media`: one packet of one track, `timestamp` ms after the stream began.
    public struct Media: Equatable, Sendable {
        public var track: Track
        public var timestampMs: UInt64
        public var payload: [UInt8]

        public init(track: Track, timestampMs: UInt64, payload: [UInt8]) {
            self.track = track
            self.timestampMs = timestampMs
            self.payload = payload
        }
    }

    /// Why a message was not understood (it is then logged, counted and skipped).
    public struct Invalid: Error, Equatable, Sendable {
        public enum Reason: String, Sendable {
            case notJSON = "not_json"
            case unknownEvent = "unknown_event"
            case invalidFields = "invalid_fields"
        }

        public var reason: Reason
        public var detail: String
    }

    public static func parse(_ data: Data) throws(Invalid) -> TwilioMessage {
        if let media = data.withUnsafeBytes(TwilioMediaScanner.media) { return .media(media) }
        return try Self.parseDecoding(data)
    }

    /// `parse` without its fast path for `media` (what the fast path must agree with).
    public static func parseDecoding(_ data: Data) throws(Invalid) -> TwilioMessage {
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw Invalid(reason: .notJSON, detail: "not a JSON object")
        } catch {
            throw Invalid(reason: .invalidFields, detail: Self.describe(error))
        }
        switch envelope.event {
        case "connected":
            return .connected
        case "start":
            guard let start = envelope.start, let streamSid = envelope.streamSid ?? start.streamSid else {
                throw Invalid(reason: .invalidFields, detail: "start needs streamSid and start")
            }
            let format = start.mediaFormat
            // Twilio names one track or both; an empty list would make a call of no channels.
            guard start.tracks?.isEmpty != true else { throw Invalid(reason: .invalidFields, detail: "start.tracks names no track") }
            return .start(
                Start(
                    streamSid: streamSid,
                    callSid: start.callSid,
                    tracks: start.tracks ?? [.inbound],
                    encoding: format?.encoding ?? "audio/x-mulaw",
                    sampleRate: format?.sampleRate ?? 8000,
                    channels: format?.channels ?? 1,
                    customParameters: start.customParameters ?? [:]
                )
            )
        case "media":
            guard let media = envelope.media else { throw Invalid(reason: .invalidFields, detail: "media needs media") }
            guard let payload = Data(base64Encoded: media.payload) else {
                throw Invalid(reason: .invalidFields, detail: "media.payload is not base64")
            }
            return .media(Media(track: media.track ?? .inbound, timestampMs: media.timestamp.value, payload: [UInt8](payload)))
        case "dtmf":
            guard let digit = envelope.dtmf?.digit else { throw Invalid(reason: .invalidFields, detail: "dtmf needs dtmf.digit") }
            return .dtmf(digit: digit)
        case "mark":
            guard let name = envelope.mark?.name else { throw Invalid(reason: .invalidFields, detail: "mark needs mark.name") }
            return .mark(name: name)
        case "stop":
            return .stop
        default:
            throw Invalid(reason: .unknownEvent, detail: "unknown event '\(envelope.event.prefix(40))'")
        }
    }

    /// The field a decoding error is about, for the log.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "invalid message" }
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        @unknown default: path = []
        }
        let name = path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return name.isEmpty ? "invalid message" : "invalid or missing \(name)"
    }

    // MARK: wire shapes

    private struct Envelope: Decodable {
        var event: String
        var streamSid: String?
        var start: StartBody?
        var media: MediaBody?
        var dtmf: DTMFBody?
        var mark: MarkBody?
    }

    private struct StartBody: Decodable {
        var streamSid: String?
        var callSid: String
        var tracks: [Track]?
        var mediaFormat: MediaFormat?
        var customParameters: [String: String]?
    }

    private struct MediaFormat: Decodable {
        var encoding: String
        var sampleRate: Int
        var channels: Int
    }

    private struct MediaBody: Decodable {
        var track: Track?
        var timestamp: Integer
        var payload: String
    }

    private struct DTMFBody: Decodable {
        var digit: String
    }

    private struct MarkBody: Decodable {
        var name: String
    }

    /// A non-negative integer sent as a string (Twilio) or as a number.
    private struct Integer: Decodable {
        var value: UInt64

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(UInt64.self) {
                self.value = number
            } else if let text = try? container.decode(String.self), let number = UInt64(text) {
                self.value = number
            } else {
                throw DecodingError.typeMismatch(UInt64.self, .init(codingPath: decoder.codingPath, debugDescription: "not an integer"))
            }
        }
    }
}

extension TwilioMessage.Track: Decodable {}

extension TwilioMessage.Start {
    /// The format of the session: μ-law at 8 kHz, one channel per track (inbound left).
    public var channelCount: Int { Set(self.tracks).count }

    /// The channel a track's audio goes to, or nil for a track the stream did not announce.
    public func channel(of track: TwilioMessage.Track) -> Int? {
        guard self.tracks.contains(track) else { return nil }
        return self.channelCount == 2 ? (track == .inbound ? 0 : 1) : 0
    }

    /// The session this stream becomes. `caller`/`receiver` come from the `from`/`to` (or
    /// `caller`/`receiver`) parameters; a number that is not one (Twilio's `anonymous`, a
    /// `client:` identity) is left out and named in `ignored`, since Twilio cannot be told.
    /// `call_id` records into an existing call; otherwise `callSid` becomes the new call's
    /// `external_id`.
    public func session(now: Date = Date()) throws(InputError) -> (start: SessionRequest.Start, ignored: [String]) {
        guard self.encoding == "audio/x-mulaw", self.sampleRate == 8000, self.channels == 1 else {
            throw InputError(
                code: "invalid_media_format",
                message: "only audio/x-mulaw at 8000 Hz, one channel a track, is supported (got \(self.encoding.prefix(40)), \(self.sampleRate) Hz)"
            )
        }
        var start = SessionRequest.Start(
            format: StreamFormat(codec: .mulaw, sampleRate: 8000, channels: self.channelCount),
            record: true,
            callID: nil,
            caller: "",
            receiver: "",
            startedAt: now,
            isPrivate: false
        )
        var ignored: [String] = []
        if let text = self.customParameters["call_id"] {
            guard let id = UUID(uuidString: text) else { throw InputError(code: "call_not_found", message: "no call with this id") }
            start.callID = id
            return (start, ignored)
        }
        start.externalID = CallFields.externalID(self.callSid)
        if let text = self.customParameters["private"] {
            guard let value = Bool(text) else { throw InputError(code: "invalid_private", message: "private must be true or false") }
            start.isPrivate = value
        }
        for (name, aliases) in [("caller", ["from", "caller"]), ("receiver", ["to", "receiver"])] {
            guard let text = aliases.lazy.compactMap({ self.customParameters[$0] }).first else { continue }
            if let number = PhoneNumber.normalise(text) {
                if name == "caller" { start.caller = number } else { start.receiver = number }
            } else {
                ignored.append(name)
            }
        }
        return (start, ignored)
    }
}
