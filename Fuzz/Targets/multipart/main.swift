// The upload's multipart/form-data reader: any body gives parts or an error, never a trap, and
// the same body fed in two pieces (split where the input says) gives the same parts.
import FuzzDriver
import HTTPMultipart
import NIOCore

fuzz { input in
    guard input.count >= 2 else { return }
    let boundary = "b\(input[0] % 16)X"
    let body = [UInt8](input[2...])
    func parts(split: Int) throws -> [String] {
        var reader = MultipartReader(boundary: boundary, maxHeaderBytes: 512)
        var parts: [String] = []
        var current: [UInt8] = []
        for piece in [body[..<split], body[split...]] {
            try reader.feed(ByteBuffer(bytes: piece)) { event in
                switch event {
                case .headers(let headers): parts.append("headers \(headers.sorted { $0.key < $1.key })")
                case .body(let bytes): current += bytes.readableBytesView
                case .partEnd:
                    parts.append("body \(current)")
                    current = []
                }
            }
        }
        try reader.finish()
        return parts
    }
    let whole = try? parts(split: body.count)
    let split = try? parts(split: Int(input[1]) % (body.count + 1))
    precondition(whole == split, "a split changed the parts: \(String(describing: whole)) vs \(String(describing: split))")
}
