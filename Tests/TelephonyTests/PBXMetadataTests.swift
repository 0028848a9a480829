import Foundation
import Telephony
import Testing

@Suite struct PBXMetadataTests {
    private static func parse(_ text: String, timeZone: TimeZone = .gmt) throws(PBXMetadata.Invalid) -> PBXMetadata {
        try PBXMetadata.parse(Data(text.utf8), timeZone: timeZone)
    }

    @Test func aFlatObjectGivesTheCallsFields() throws {
        let metadata = try Self.parse(
            #"{"caller":"+15550100","receiver":"200","started_at":"2026-12-04T09:00:00Z","private":true,"external_id":"x-1"}"#
        )
        #expect(metadata == PBXMetadata(caller: "+15550100", receiver: "200", startedAt: "2026-12-04T09:00:00Z", isPrivate: true, externalID: "x-1"))
        #expect(try Self.parse(#"{"caller":"1","receiver":"2","started_at":1796371200}"#).startedAt == "2026-12-04T08:00:00Z")
    }

    /// FreeSWITCH's mod_json_cdr: URL-encoded variables; start_epoch, else start_stamp in the
    /// PBX's time zone; the channel's uuid as the external id.
    @Test func aFreeSWITCHCDRGivesTheCallsFields() throws {
        let withEpoch = try Self.parse(
            #"{"variables":{"uuid":"5e1b","caller_id_number":"%2B15550100","destination_number":"1002","start_epoch":"1796371200"}}"#
        )
        #expect(
            withEpoch == PBXMetadata(caller: "+15550100", receiver: "1002", startedAt: "2026-12-04T08:00:00Z", isPrivate: false, externalID: "5e1b")
        )
        let withStamp = try Self.parse(
            #"{"variables":{"caller_id_number":"100","destination_number":"200","start_stamp":"2026-12-04%2010%3A00%3A00"}}"#,
            timeZone: TimeZone(identifier: "Europe/Berlin")!
        )
        #expect(withStamp.startedAt == "2026-12-04T09:00:00Z" && withStamp.externalID == nil)
    }

    @Test(arguments: [
        "{not json", "[1]", #"{"caller":"1"}"#, #"{"caller":1,"receiver":"2","started_at":"2026-12-04T09:00:00Z"}"#,
        #"{"caller":"1","receiver":"2"}"#, #"{"caller":"1","receiver":"2","started_at":"x","private":"yes"}"#,
        #"{"variables":{"caller_id_number":"1"}}"#, #"{"variables":{"caller_id_number":"1","destination_number":"2"}}"#,
    ])
    func badFilesAreRefusedWithAReason(text: String) {
        #expect(throws: PBXMetadata.Invalid.self) { try Self.parse(text) }
    }
}
