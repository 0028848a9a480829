import HTTPMultipart
import NIOCore
import Testing

/// What a reader made of a whole input, fed in pieces.
private struct Parsed: Equatable {
    var parts: [Part] = []
    var complete = false

    struct Part: Equatable {
        var headers: [String: String]
        var body: [UInt8] = []
        var ended = false
    }
}

private func parse(_ input: [UInt8], boundary: String = "XyZ", splits: [Int] = []) throws -> Parsed {
    var reader = MultipartReader(boundary: boundary)
    var parsed = Parsed()
    var start = 0
    for end in splits + [input.count] where end >= start {
        try reader.feed(ByteBuffer(bytes: input[start..<end])) { event in
            switch event {
            case .headers(let headers): parsed.parts.append(.init(headers: headers))
            case .body(let bytes): parsed.parts[parsed.parts.count - 1].body += Array(bytes.readableBytesView)
            case .partEnd: parsed.parts[parsed.parts.count - 1].ended = true
            }
        }
        start = end
    }
    parsed.complete = reader.isComplete
    return parsed
}

private func form(_ parts: [(headers: String, body: [UInt8])], boundary: String = "XyZ", preamble: String = "") -> [UInt8] {
    var bytes = Array(preamble.utf8)
    for part in parts {
        bytes += Array("--\(boundary)\r\n\(part.headers)\r\n\r\n".utf8) + part.body + Array("\r\n".utf8)
    }
    return bytes + Array("--\(boundary)--\r\n".utf8)
}

struct MultipartReaderTests {
    /// Bytes that look like pieces of a delimiter: CRs, CRLFs, dashes, the boundary's start.
    static let trickyBody: [UInt8] = Array("a\r\r\n-\r\n--\r\n--X\r\n--Xy\r\n--XyY\n--XyZ!".utf8) + (0..<300).map { UInt8($0 % 256) } + [13]

    @Test func readsHeadersAndBodiesOfEveryPart() throws {
        let input = form([
            (headers: "Content-Disposition: form-data; name=\"note\"", body: Array("hello".utf8)),
            (headers: "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type:  audio/wav ", body: Self.trickyBody),
        ])
        let parsed = try parse(input)
        #expect(parsed.complete)
        #expect(parsed.parts.count == 2)
        #expect(parsed.parts[0] == .init(headers: ["content-disposition": "form-data; name=\"note\""], body: Array("hello".utf8), ended: true))
        #expect(parsed.parts[1].headers["content-type"] == "audio/wav")
        #expect(parsed.parts[1].body == Self.trickyBody)
        #expect(parsed.parts[1].ended)
    }

    /// Every way of cutting the input in two, and byte by byte, gives the same result.
    @Test func anySplitOfTheInputGivesTheSameParts() throws {
        let input = form(
            [(headers: "Content-Disposition: form-data; name=\"file\"; filename=\"x.mp3\"", body: Self.trickyBody)],
            preamble: "ignored\r\n"
        )
        let whole = try parse(input)
        #expect(whole.parts.first?.body == Self.trickyBody)
        for cut in 0...input.count {
            #expect(try parse(input, splits: [cut]) == whole, "cut at \(cut)")
        }
        #expect(try parse(input, splits: Array(1..<input.count)) == whole)
    }

    @Test func aPreambleAndAnEpilogueAreIgnored() throws {
        var input = form([(headers: "Content-Disposition: form-data; name=\"a\"", body: [1, 2, 3])], preamble: "This is a preamble --XY\r\n")
        input += Array("epilogue --XyZ\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nlate".utf8)
        let parsed = try parse(input)
        #expect(parsed.complete)
        #expect(parsed.parts.map(\.body) == [[1, 2, 3]])
    }

    @Test func anEmptyPartAndAPartWithoutHeaders() throws {
        let input = Array("--XyZ\r\n\r\n\r\n--XyZ\r\nA: b\r\n\r\nbody\r\n--XyZ--".utf8)
        let parsed = try parse(input)
        #expect(parsed.complete)
        #expect(parsed.parts == [.init(headers: [:], body: [], ended: true), .init(headers: ["a": "b"], body: Array("body".utf8), ended: true)])
    }

    @Test func transportPaddingAfterABoundaryIsAllowed() throws {
        let parsed = try parse(Array("--XyZ \t\r\nA: b\r\n\r\nx\r\n--XyZ--".utf8))
        #expect(parsed.complete)
        #expect(parsed.parts.first?.body == Array("x".utf8))
    }

    @Test func aTruncatedBodyIsNotComplete() throws {
        let input = form([(headers: "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"", body: Self.trickyBody)])
        for cut in [0, 10, input.count / 2, input.count - 5] {
            var reader = MultipartReader(boundary: "XyZ")
            try reader.feed(ByteBuffer(bytes: input[..<cut])) { _ in }
            #expect(!reader.isComplete)
            #expect(throws: MultipartReader.ReaderError.truncated) { try reader.finish() }
        }
    }

    @Test func malformedInputIsRefused() throws {
        // Something other than CRLF or -- after a boundary.
        #expect(throws: MultipartReader.ReaderError.malformed("a boundary must be followed by CRLF or --")) {
            try parse(Array("--XyZ!\r\n\r\nx\r\n--XyZ--".utf8))
        }
        // A header line without a colon.
        #expect(throws: MultipartReader.ReaderError.malformed("a part header has no colon")) {
            try parse(Array("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--".utf8))
        }
        // A header block that never ends.
        let endless = Array("--XyZ\r\nA: ".utf8) + [UInt8](repeating: 0x61, count: 20_000)
        #expect(throws: MultipartReader.ReaderError.headersTooLarge) { try parse(endless, splits: [100, 5000]) }
    }

    /// A large body comes out in few slices, not one per carriage return.
    @Test func bodiesComeOutInLargeSlices() throws {
        let body = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let input = form([(headers: "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"", body: body)])
        var reader = MultipartReader(boundary: "XyZ")
        var slices = 0
        var received: [UInt8] = []
        var start = 0
        while start < input.count {
            let end = min(start + 65_536, input.count)
            try reader.feed(ByteBuffer(bytes: input[start..<end])) { event in
                if case .body(let bytes) = event {
                    slices += 1
                    received += Array(bytes.readableBytesView)
                }
            }
            start = end
        }
        #expect(reader.isComplete)
        #expect(received == body)
        #expect(slices <= 2 * (input.count / 65_536 + 1))
    }
}
