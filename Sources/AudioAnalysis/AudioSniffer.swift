/// Recognises an uploaded file by its content, never its name.
public enum AudioSniffer {
    public enum Kind: String, Sendable {
        case wav, mp3
    }

    /// `read(offset, count)` returns up to `count` bytes at `offset` of the file.
    public static func sniff(read: (Int, Int) throws -> [UInt8]) rethrows -> Kind? {
        if try WAVHeader.parse(read: read) != nil { return .wav }
        let start = try read(0, 4)
        // A RIFF file that is not a WAV we can decode is not an MP3 either.
        if start.elementsEqual("RIFF".utf8) { return nil }
        if try MP3FrameHeader.firstFrameOffset(read: read) != nil { return .mp3 }
        return nil
    }
}
