import Foundation
import Protocol
import RequestParsing
import Telephony
import Testing

@Suite struct TwilioMessageTests {
    private static func parse(_ text: String) throws(TwilioMessage.Invalid) -> TwilioMessage {
        try TwilioMessage.parse(Data(text.utf8))
    }

    /// The `start` message as Twilio's documentation shows it (numbers as strings).
    static let start = """
        {"event":"start","sequenceNumber":"1","start":{"accountSid":"AC00000000000000000000000000000000",\
        "streamSid":"MZ11111111111111111111111111111111","callSid":"CA22222222222222222222222222222222",\
        "tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},\
        "customParameters":{"from":"+1 (555) 010-0001","to":"+15550100002"}},"streamSid":"MZ11111111111111111111111111111111"}
        """

    @Test func startCarriesTheStreamAndBecomesASession() throws {
        guard case .start(let start) = try Self.parse(Self.start) else { Issue.record("not a start"); return }
        #expect(start.streamSid == "MZ11111111111111111111111111111111")
        #expect(start.tracks == [.inbound, .outbound])
        #expect(start.channelCount == 2 && start.channel(of: .inbound) == 0 && start.channel(of: .outbound) == 1)
        let session = try start.session()
        #expect(session.start.format == StreamFormat(codec: .mulaw, sampleRate: 8000, channels: 2))
        #expect(session.start.caller == "+15550100001" && session.start.receiver == "+15550100002")
        #expect(session.start.externalID == "CA22222222222222222222222222222222")
        #expect(session.start.callID == nil && session.ignored.isEmpty)
    }

    @Test func anInboundOnlyStreamIsMonoAndOddNumbersAreLeftOut() throws {
        let text = Self.start.replacingOccurrences(of: #"["inbound","outbound"]"#, with: #"["inbound"]"#)
            .replacingOccurrences(of: #""from":"+1 (555) 010-0001""#, with: #""caller":"anonymous""#)
        guard case .start(let start) = try Self.parse(text) else { Issue.record("not a start"); return }
        #expect(start.channelCount == 1 && start.channel(of: .outbound) == nil)
        let session = try start.session()
        #expect(session.start.format.channels == 1)
        #expect(session.start.caller == "" && session.ignored == ["caller"])
    }

    @Test func aCallIDParameterRecordsIntoThatCall() throws {
        let id = UUID()
        let text = Self.start.replacingOccurrences(of: #""to":"+15550100002""#, with: #""call_id":"\#(id.uuidString)""#)
        guard case .start(let start) = try Self.parse(text) else { Issue.record("not a start"); return }
        let session = try start.session()
        #expect(session.start.callID == id && session.start.externalID == nil)
    }

    @Test func otherMediaFormatsAreRefused() throws {
        let text = Self.start.replacingOccurrences(of: "\"sampleRate\":8000", with: "\"sampleRate\":16000")
        guard case .start(let start) = try Self.parse(text) else { Issue.record("not a start"); return }
        #expect(throws: InputError.self) { try start.session() }
    }

    @Test func mediaDecodesItsStringNumbersAndPayload() throws {
        let payload = Data([0xFF, 0x7F, 0x00, 0x80]).base64EncodedString()
        let text = """
            {"event":"media","sequenceNumber":"4","media":{"track":"outbound","chunk":"2","timestamp":"5240","payload":"\(payload)"},\
            "streamSid":"MZ1"}
            """
        #expect(try Self.parse(text) == .media(.init(track: .outbound, timestampMs: 5_240, payload: [0xFF, 0x7F, 0x00, 0x80])))
    }

    /// The fast path for media agrees with the full parser, in the usual shape and in others.
    @Test(
        arguments: [
            #"{"event":"media","sequenceNumber":"4","media":{"track":"outbound","chunk":"2","timestamp":"5240","payload":"/38AgA=="},"streamSid":"MZ1"}"#,
            #" { "streamSid" : "MZ1" , "media" : { "payload" : "/38AgA==" , "timestamp" : "0" } , "event" : "media" } "#,
            #"{"event":"media","media":{"track":"inbound","timestamp":5240,"payload":"/38AgA=="}}"#,
            #"{"event":"media","media":{"track":"inbound","timestamp":"+52","payload":"/38AgA=="}}"#,
            #"{"event":"media","media":{"track":"inbound","timestamp":"99999999999999999999","payload":""}}"#,
            #"{"event":"media","media":{"track":"inbound","timestamp":"1","payload":"%%"}}"#,
            #"{"event":"media","media":{"track":"inbound","timestamp":"1","payload":""}}"#,
            #"{"event":"media","event":"stop","media":{"timestamp":"1","payload":""}}"#,
            #"{"event":"media","media":null}"#,
            #"{"event":"media","media":{"timestamp":"1","payload":""}} x"#,
            #"{"event":"stop","media":{"timestamp":"1","payload":""}}"#,
        ]
            + ["AAAA", "AAA=", "AA==", "AB==", "AAB=", "A===", "AAAAA", "/+/+", "AA=A", "====", ""].map {
                #"{"event":"media","media":{"timestamp":"1","payload":"\#($0)"}}"#
            }
    )
    func theMediaFastPathAgreesWithTheDecoder(text: String) {
        let fast = Result { () throws(TwilioMessage.Invalid) in try TwilioMessage.parse(Data(text.utf8)) }
        let slow = Result { () throws(TwilioMessage.Invalid) in try TwilioMessage.parseDecoding(Data(text.utf8)) }
        #expect(fast == slow, "\(text)")
    }

    @Test func theOtherEventsParse() throws {
        #expect(try Self.parse(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#) == .connected)
        #expect(
            try Self.parse(#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#)
                == .dtmf(digit: "1")
        )
        #expect(try Self.parse(#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}}"#) == .mark(name: "my label"))
        #expect(try Self.parse(#"{"event":"stop","sequenceNumber":"5","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#) == .stop)
    }

    @Test(arguments: [
        ("not json", TwilioMessage.Invalid.Reason.notJSON),
        ("[1,2]", .invalidFields),
        (#"{"event":"hangup"}"#, .unknownEvent),
        (#"{"event":"media","media":{"track":"inbound","timestamp":"soon","payload":""}}"#, .invalidFields),
        (#"{"event":"media","media":{"track":"sideways","timestamp":"0","payload":""}}"#, .invalidFields),
        (#"{"event":"media","media":{"track":"inbound","timestamp":"0","payload":"%%%"}}"#, .invalidFields),
        (#"{"event":"media"}"#, .invalidFields),
        (#"{"event":"start","start":{"callSid":"CA1"}}"#, .invalidFields),
        (#"{"event":1}"#, .invalidFields),
        (#"{"event":"start","streamSid":"MZ1","start":{"callSid":"CA1","tracks":[]}}"#, .invalidFields),
    ])
    func badMessagesAreNamed(text: String, reason: TwilioMessage.Invalid.Reason) {
        #expect(throws: TwilioMessage.Invalid.self) { try Self.parse(text) }
        do {
            _ = try Self.parse(text)
        } catch {
            #expect(error.reason == reason, "\(text): \(error.detail)")
        }
    }
}
