import CMpg123
import Foundation

/// Decodes an MP3 file with libmpg123 (its feed API: we read the file, it decodes), to mono
/// floats in [-1, 1), a block at a time. Encoder delay and padding are removed when the file
/// says how much (libmpg123's gapless mode), as ffmpeg (pydub's decoder) does.
public struct MP3Decoder {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let path: String

    public init(path: String) {
        self.path = path
    }

    /// Feeds every frame to `body` in blocks, both channels averaged, or only `channel` (0 is
    /// the first); returns the sample rate, number of frames and channels.
    @discardableResult
    public func decodeMono(channel: Int? = nil, _ body: (_ sampleRate: Int, UnsafeBufferPointer<Float>) throws -> Void) throws -> (
        sampleRate: Int, frames: Int, channels: Int
    ) {
        guard let file = FileHandle(forReadingAtPath: self.path) else { throw Failure(description: "cannot open \(self.path)") }
        defer { try? file.close() }
        var error: Int32 = 0
        guard let handle = mpg123_new(nil, &error) else { throw Failure(description: "mpg123_new failed (\(error))") }
        defer { mpg123_delete(handle) }
        // Signed 16-bit at whatever rate and channel count the stream has.
        mpg123_format_none(handle)
        var rates: UnsafePointer<Int>?
        var rateCount = 0
        mpg123_rates(&rates, &rateCount)
        for index in 0..<rateCount {
            mpg123_format(handle, rates![index], Int32(MPG123_MONO.rawValue | MPG123_STEREO.rawValue), Int32(MPG123_ENC_SIGNED_16.rawValue))
        }
        mpg123_param2(handle, Int32(MPG123_ADD_FLAGS.rawValue), Int(MPG123_QUIET.rawValue), 0)
        guard mpg123_open_feed(handle) == MPG123_OK.rawValue else { throw Failure(description: "mpg123_open_feed failed") }

        var rate = 0
        var channels = 1
        var frames = 0
        var output = [UInt8](repeating: 0, count: 64 * 1024)
        var mono = [Float](repeating: 0, count: 32 * 1024)
        var input = file.readData(ofLength: 64 * 1024)
        var finished = false
        while true {
            var produced = 0
            let status: Int32 = input.withUnsafeBytes { raw in
                output.withUnsafeMutableBytes { out in
                    mpg123_decode(
                        handle,
                        raw.count > 0 ? raw.bindMemory(to: UInt8.self).baseAddress : nil,
                        raw.count,
                        out.bindMemory(to: UInt8.self).baseAddress,
                        out.count,
                        &produced
                    )
                }
            }
            input = Data()
            if status == MPG123_NEW_FORMAT.rawValue {
                var newRate = 0
                var newChannels: Int32 = 0
                var encoding: Int32 = 0
                mpg123_getformat(handle, &newRate, &newChannels, &encoding)
                guard rate == 0 || (newRate == rate && Int(newChannels) == channels) else {
                    throw Failure(description: "the stream changes format midway")
                }
                rate = newRate
                channels = Int(newChannels)
            } else if status == MPG123_ERR.rawValue {
                throw Failure(description: "not a decodable MP3: \(String(cString: mpg123_strerror(handle)))")
            }
            if produced > 0 {
                let count = produced / (2 * channels)
                let picked = channel.map { min($0, channels - 1)..<(min($0, channels - 1) + 1) } ?? 0..<channels
                output.withUnsafeBytes { raw in mixInt16(raw, frames: count, channels: channels, picking: picked, into: &mono) }
                try mono.withUnsafeBufferPointer { try body(rate, UnsafeBufferPointer(rebasing: $0[0..<count])) }
                frames += count
            }
            if status == MPG123_NEED_MORE.rawValue {
                if finished { break }
                input = file.readData(ofLength: 64 * 1024)
                if input.isEmpty {
                    // End of file: let libmpg123 drain what it holds.
                    finished = true
                }
            } else if status == MPG123_DONE.rawValue {
                break
            }
        }
        guard rate > 0 else { throw Failure(description: "no MP3 audio found") }
        return (rate, frames, channels)
    }
}
