/// A recording's length without decoding it: from a WAV's header and size, or by stepping
/// through an MP3's frame headers. Used to refuse a recording over a length limit up front.
public enum AudioDuration {
    /// Seconds of audio in the file (`read(offset, count)` reads it, `size` is its length);
    /// nil when it is neither a WAV nor an MP3 we can read. An MP3 is measured only up to
    /// `atMost` seconds: past that, the answer is "more than `atMost`".
    public static func seconds(read: (Int, Int) throws -> [UInt8], size: Int, atMost: Double = .infinity) rethrows -> Double? {
        switch try AudioSniffer.sniff(read: read) {
        case .wav:
            guard let header = try WAVHeader.parse(read: read), header.blockAlign > 0, header.sampleRate > 0 else { return nil }
            // A header written before the size was known (a live or streamed WAV) overstates it.
            let dataBytes = min(header.declaredDataLength, max(size - header.dataOffset, 0))
            return Double(dataBytes / header.blockAlign) / Double(header.sampleRate)
        case .mp3:
            return try Self.mp3Seconds(read: read, size: size, atMost: atMost)
        case nil:
            return nil
        }
    }

    private static func mp3Seconds(read: (Int, Int) throws -> [UInt8], size: Int, atMost: Double) rethrows -> Double? {
        guard var offset = try MP3FrameHeader.firstFrameOffset(read: read) else { return nil }
        var seconds = 0.0
        var window: [UInt8] = []
        var windowStart = 0
        while offset + 4 <= size, seconds <= atMost {
            if offset < windowStart || offset + 4 > windowStart + window.count {
                windowStart = offset
                window = try read(offset, 64 * 1024)
                if window.count < 4 { break }
            }
            let at = offset - windowStart
            // Trailing tags or garbage end the audio.
            guard let header = MP3FrameHeader(window[at], window[at + 1], window[at + 2], window[at + 3]) else { break }
            seconds += Double(header.samplesPerFrame) / Double(header.sampleRate)
            offset += header.frameLength
        }
        return seconds
    }
}
