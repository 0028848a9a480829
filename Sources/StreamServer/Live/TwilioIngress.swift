import Foundation
import NIOCore
import NIOWebSocket
import RequestParsing
import Telephony

/// A Twilio Media Streams connection (`/api/twilio/ws`), as `AudioStreamHandler` sees it: each
/// text message becomes a step — start the session, audio to submit (the tracks interleaved
/// into 100 ms chunks by `TrackAligner`), stop — or is skipped (logged and counted: Twilio
/// never reads what we send, and a bad message must not end a call).
struct TwilioIngress {
    static let path = "/api/twilio/ws"

    /// Why a message was skipped (the `reason` of `callstream_twilio_messages_skipped_total`).
    enum Skip: String, CaseIterable, Sendable {
        case notJSON = "not_json"
        case unknownEvent = "unknown_event"
        case invalidFields = "invalid_fields"
        case binary
        case notUTF8 = "not_utf8"
        case repeatedStart = "repeated_start"
        case unknownTrack = "unknown_track"
        case tooFarAhead = "too_far_ahead"
        case afterStop = "after_stop"
    }

    enum Step {
        case start(SessionRequest.Start, ignored: [String])
        case audio([[UInt8]])
        /// `stop`: the last audio, then the session stops.
        case stop([[UInt8]])
        case skip(Skip, String)
        /// Closes the stream with 1008 (a `media` before `start`, a refused `start`).
        case refuse(String)
        case none
    }

    /// With auth tokens and an upgrade that carried none: `start` must name one in its
    /// `token` parameter (Twilio's stream URLs take no query string, its `<Parameter>`s do).
    let tokens: AuthTokens?
    private(set) var start: TwilioMessage.Start?
    private var aligner: TrackAligner?
    /// Each track's channel (nil: not announced), worked out once at `start`.
    private var channels: (inbound: Int?, outbound: Int?) = (nil, nil)
    private var stopped = false

    init(tokens: AuthTokens?) {
        self.tokens = tokens
    }

    /// Frames of audio dropped because they came after their place had gone out.
    var lateFrames: Int { self.aligner?.lateFrames ?? 0 }

    mutating func handle(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> Step {
        guard opcode == .text else { return .skip(.binary, "binary message") }
        guard data.validatedUTF8String() != nil else { return .skip(.notUTF8, "text message is not valid UTF-8") }
        let message: TwilioMessage
        do {
            message = try TwilioMessage.parse(Data(data.readableBytesView))
        } catch {
            let skip: Skip =
                switch error.reason {
                case .notJSON: .notJSON
                case .unknownEvent: .unknownEvent
                case .invalidFields: .invalidFields
                }
            return .skip(skip, error.detail)
        }
        switch message {
        case .connected, .dtmf, .mark:
            return .none
        case .start(let start):
            return self.begin(start)
        case .media(let media):
            guard !self.stopped else { return .skip(.afterStop, "media after stop") }
            guard self.aligner != nil else { return .refuse("media before start") }
            guard let channel = media.track == .inbound ? self.channels.inbound : self.channels.outbound else {
                return .skip(.unknownTrack, "media of the \(media.track.rawValue) track, which start did not announce")
            }
            do {
                return .audio(try self.aligner!.add(track: channel, timestampMs: media.timestampMs, samples: media.payload))
            } catch {
                return .skip(.tooFarAhead, "media timestamp \(media.timestampMs) ms is too far ahead of the audio so far")
            }
        case .stop:
            guard !self.stopped, self.aligner != nil else { return .none }
            self.stopped = true
            return .stop(self.aligner!.finish())
        }
    }

    /// The audio still held when the connection closes without a `stop`.
    mutating func finish() -> [[UInt8]] {
        guard !self.stopped, self.aligner != nil else { return [] }
        self.stopped = true
        return self.aligner!.finish()
    }

    private mutating func begin(_ start: TwilioMessage.Start) -> Step {
        guard self.start == nil else { return .skip(.repeatedStart, "a second start") }
        if let tokens = self.tokens {
            guard let token = start.customParameters["token"], tokens.accepts(token) else {
                return .refuse("unauthorized: the stream needs a token <Parameter>")
            }
        }
        let session: (start: SessionRequest.Start, ignored: [String])
        do {
            session = try start.session()
        } catch {
            return .refuse("\(error.code): \(error.message)")
        }
        self.start = start
        self.channels = (start.channel(of: .inbound), start.channel(of: .outbound))
        self.aligner = TrackAligner(channels: start.channelCount)
        return .start(session.start, ignored: session.ignored)
    }
}
