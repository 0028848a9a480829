import NIOCore
import Testing
import WebSocketDeflate

@Suite struct PerMessageDeflateTests {
    static func messages() -> [ByteBuffer] {
        (1...50).map {
            ByteBuffer(string: #"{"type":"transcript","client_id":7,"seq":\#($0),"transcription":"mock transcription for client 7 msg#\#($0)"}"#)
        }
    }

    @Test(arguments: [false, true])
    func messagesRoundTripBothWays(noContextTakeover: Bool) throws {
        var parameters = PerMessageDeflate.Parameters()
        parameters.serverNoContextTakeover = noContextTakeover
        parameters.clientNoContextTakeover = noContextTakeover
        let server = try PerMessageDeflate(parameters, role: .server)
        let client = try PerMessageDeflate(parameters, role: .client)
        var compressedBytes = 0
        for message in Self.messages() {
            let down = server.deflate(message)
            compressedBytes += down.readableBytes
            #expect(try client.inflate(down, limit: 1 << 20) == message)
            let up = client.deflate(message)
            #expect(try server.inflate(up, limit: 1 << 20) == message)
        }
        let plainBytes = Self.messages().reduce(0) { $0 + $1.readableBytes }
        // With context kept, later messages mostly refer back to earlier ones.
        #expect(compressedBytes < plainBytes / (noContextTakeover ? 1 : 3))
    }

    @Test func anEmptyMessageAndOneLargerThanTheLimit() throws {
        let server = try PerMessageDeflate(.init())
        let client = try PerMessageDeflate(.init(), role: .client)
        #expect(try server.inflate(client.deflate(ByteBuffer()), limit: 10).readableBytes == 0)
        let big = client.deflate(ByteBuffer(repeating: 0x41, count: 100_000))
        #expect(big.readableBytes < 1000)
        #expect(throws: PerMessageDeflate.Failure.tooLarge) { try server.inflate(big, limit: 65_536) }
    }

    @Test func corruptDataIsRefused() throws {
        let server = try PerMessageDeflate(.init())
        #expect(throws: PerMessageDeflate.Failure.corrupt) { try server.inflate(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0x07, 0x00]), limit: 1 << 20) }
    }

    @Test func offersAreParsedAsRFC7692Says() {
        #expect(PerMessageDeflate.negotiate("permessage-deflate") == .init())
        var both = PerMessageDeflate.Parameters()
        both.serverNoContextTakeover = true
        both.clientNoContextTakeover = true
        both.serverMaxWindowBits = 12
        #expect(
            PerMessageDeflate.negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12")
                == both
        )
        #expect(PerMessageDeflate.negotiate("permessage-deflate; client_max_window_bits") == .init())
        #expect(PerMessageDeflate.negotiate("permessage-deflate; client_max_window_bits=\"10\"") == .init())
        // Declined: unknown, repeated, out of range, a value on a flag, window 8 for us.
        for offer in [
            "permessage-deflate; foo", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_no_context_takeover=1", "permessage-deflate; server_max_window_bits=8", "deflate-frame",
        ] {
            #expect(PerMessageDeflate.negotiate(offer) == nil, "\(offer)")
        }
        #expect(PerMessageDeflate.negotiate("permessage-deflate; foo, permessage-deflate; server_max_window_bits=9")?.serverMaxWindowBits == 9)
        #expect(
            PerMessageDeflate.negotiate("permessage-deflate; server_max_window_bits=10").map(\.responseHeader)
                == "permessage-deflate; server_max_window_bits=10"
        )
    }
}
