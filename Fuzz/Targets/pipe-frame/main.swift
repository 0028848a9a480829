// The worker pipe's frame decoder (both directions): any bytes give frames or a typed error,
// never a trap; every decoded frame encodes to bytes that decode and encode to the same bytes.
import FuzzDriver
import NIOCore
import Protocol

fuzz { input in
    var decoder = PipeFrameDecoder(maxFrameLength: 1 << 20)
    // Fed in two parts, split by the first byte, as a pipe read might split it.
    let split = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
    decoder.append(ByteBuffer(bytes: input[0..<split]))
    decoder.append(ByteBuffer(bytes: input[split...]))
    while true {
        guard let frame = try? decoder.next() else { return }
        // Compared as bytes (a NaN threshold is not equal to itself).
        var encoded = ByteBuffer()
        encoded.writePipeFrame(frame)
        var again = PipeFrameDecoder(maxFrameLength: 1 << 21)
        again.append(encoded)
        guard let decoded = try? again.next() else { preconditionFailure("\(frame.kind) does not decode after encoding") }
        var reencoded = ByteBuffer()
        reencoded.writePipeFrame(decoded)
        precondition(reencoded == encoded, "\(frame.kind) does not survive a round trip")
    }
}
