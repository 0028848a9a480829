/// ITU-T G.711 μ-law and A-law, as telephony sends them: one byte a sample. The decoders are
/// 256-entry tables built once from the reference (Sun `g711.c`) formulas; the encoders serve
/// the load client and the tests.
public enum G711 {
    public static let mulawToLinear: [Int16] = (0...255).map { Self.decodeMulaw(UInt8($0)) }
    public static let alawToLinear: [Int16] = (0...255).map { Self.decodeAlaw(UInt8($0)) }

    static func decodeMulaw(_ byte: UInt8) -> Int16 {
        let value = ~byte
        let exponent = Int((value >> 4) & 0x07)
        let mantissa = Int(value & 0x0F)
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        return Int16(value & 0x80 != 0 ? -magnitude : magnitude)
    }

    static func decodeAlaw(_ byte: UInt8) -> Int16 {
        let value = byte ^ 0x55
        var magnitude = Int(value & 0x0F) << 4
        let segment = Int((value & 0x70) >> 4)
        switch segment {
        case 0: magnitude += 8
        case 1: magnitude += 0x108
        default: magnitude = (magnitude + 0x108) << (segment - 1)
        }
        return Int16(value & 0x80 != 0 ? magnitude : -magnitude)
    }

    public static func encodeMulaw(_ sample: Int16) -> UInt8 {
        let bias = 0x84
        var magnitude = Int(sample)
        let sign = magnitude < 0 ? 0x80 : 0
        if magnitude < 0 { magnitude = -magnitude }
        magnitude = min(magnitude, 32635) + bias
        var exponent = 7
        var mask = 0x4000
        while exponent > 0 && magnitude & mask == 0 {
            exponent -= 1
            mask >>= 1
        }
        let mantissa = (magnitude >> (exponent + 3)) & 0x0F
        return ~UInt8(sign | exponent << 4 | mantissa)
    }

    public static func encodeAlaw(_ sample: Int16) -> UInt8 {
        var value = Int(sample) >> 3
        let mask: Int
        if value >= 0 {
            mask = 0xD5
        } else {
            mask = 0x55
            value = -value - 1
        }
        let segmentEnds = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
        guard let segment = segmentEnds.firstIndex(where: { value <= $0 }) else { return UInt8(0x7F ^ mask) }
        let quantised = segment < 2 ? (value >> 1) & 0x0F : (value >> segment) & 0x0F
        return UInt8((segment << 4 | quantised) ^ mask)
    }
}
