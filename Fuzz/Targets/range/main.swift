// `Range` headers on recording downloads: the first 8 bytes are the file size, the rest the
// header. Whatever the header, the answer is the whole file, a range inside it, or 416.
import FuzzDriver
import RequestParsing

fuzz { input in
    guard input.count >= 8 else { return }
    let size = Int64(input.loadUnaligned(as: UInt64.self) >> 2)
    let header = String(decoding: input[8...], as: UTF8.self)
    switch ByteRange(header: header, size: size) {
    case .whole, .unsatisfiable:
        break
    case .partial(let range):
        precondition(range.lowerBound >= 0 && range.upperBound < size && range.lowerBound <= range.upperBound, "\(range) outside 0..<\(size)")
    }
}
