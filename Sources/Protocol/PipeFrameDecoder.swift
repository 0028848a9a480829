import NIOCore

/// Why a pipe stream could not be decoded. Any of these means the peer is broken or not
/// speaking our protocol: the stream cannot be resynchronised and must be closed.
public enum PipeFrameError: Error, Equatable, Sendable {
    case lengthTooLarge(Int)
    case lengthTooSmall(Int)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case truncatedPayload(PipeFrame.Kind)
    case unknownCodec(UInt8)
}

/// Incremental decoder: feed it bytes as they arrive (any split), take whole frames out.
///
/// Lengths above `maxFrameLength` are rejected before anything is buffered, so a corrupted
/// length cannot make the reader allocate gigabytes.
public struct PipeFrameDecoder: Sendable {
    public let maxFrameLength: Int
    private var buffer: ByteBuffer?

    /// Default cap: a 64 MiB payload plus the fixed fields.
    public static let defaultMaxFrameLength = 64 << 20 + 64

    public init(maxFrameLength: Int = PipeFrameDecoder.defaultMaxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    /// Bytes received but not yet decoded into a frame.
    public var bufferedBytes: Int { self.buffer?.readableBytes ?? 0 }

    /// Appends received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        if self.buffer == nil || self.buffer!.readableBytes == 0 {
            self.buffer = bytes
        } else {
            var bytes = bytes
            self.buffer!.writeBuffer(&bytes)
        }
    }

    /// The next whole frame, or nil when more bytes are needed.
    public mutating func next() throws(PipeFrameError) -> PipeFrame? {
        guard var buffer = self.buffer, buffer.readableBytes >= 4 else { return nil }
        let length = Int(buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self)!)
        guard length >= 2 else { throw .lengthTooSmall(length) }
        guard length <= self.maxFrameLength else { throw .lengthTooLarge(length) }
        guard buffer.readableBytes >= 4 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        var body = buffer.readSlice(length: length)!
        self.buffer = buffer.readableBytes == 0 ? nil : buffer
        return try Self.parse(&body)
    }

    private static func parse(_ body: inout ByteBuffer) throws(PipeFrameError) -> PipeFrame {
        let version = body.readInteger(as: UInt8.self)!
        guard version == PipeFrame.version else { throw .unsupportedVersion(version) }
        let rawKind = body.readInteger(as: UInt8.self)!
        guard let kind = PipeFrame.Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        switch kind {
        case .chunk:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seq = body.readInteger(endianness: .little, as: UInt64.self)
            else { throw .truncatedPayload(kind) }
            return .chunk(clientID: clientID, seq: seq, audio: body)
        case .result:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seq = body.readInteger(endianness: .little, as: UInt64.self)
            else { throw .truncatedPayload(kind) }
            return .result(clientID: clientID, seq: seq, text: body.readString(length: body.readableBytes)!)
        case .error:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seq = body.readInteger(endianness: .little, as: UInt64.self),
                let codeLength = body.readInteger(endianness: .little, as: UInt16.self),
                let code = body.readString(length: Int(codeLength))
            else { throw .truncatedPayload(kind) }
            return .error(clientID: clientID, seq: seq, code: code, message: body.readString(length: body.readableBytes)!)
        case .ready:
            return .ready(engine: body.readString(length: body.readableBytes)!)
        case .shutdown:
            return .shutdown
        case .analyse:
            guard let jobID = body.readInteger(endianness: .little, as: UInt64.self),
                let minSilenceMs = body.readInteger(endianness: .little, as: UInt32.self),
                let threshold = body.readInteger(endianness: .little, as: UInt64.self),
                let seconds = body.readInteger(endianness: .little, as: UInt32.self),
                let idLength = body.readInteger(endianness: .little, as: UInt16.self),
                let recordingID = body.readString(length: Int(idLength)),
                let bitrate = body.readInteger(endianness: .little, as: UInt32.self),
                let archivePath = body.readLengthPrefixed()
            else { throw .truncatedPayload(kind) }
            return .analyse(
                AnalysisJob(
                    jobID: jobID,
                    recordingID: recordingID,
                    path: body.readString(length: body.readableBytes)!,
                    minSilenceMs: minSilenceMs,
                    silenceThresholdDBFS: Double(bitPattern: threshold),
                    transcribeSeconds: seconds,
                    archive: bitrate == 0 ? nil : ArchiveRequest(path: archivePath, bitrateKbps: bitrate)
                )
            )
        case .analysis:
            guard let jobID = body.readInteger(endianness: .little, as: UInt64.self),
                let duration = body.readInteger(endianness: .little, as: UInt64.self),
                let decode = body.readInteger(endianness: .little, as: UInt64.self),
                let silence = body.readInteger(endianness: .little, as: UInt64.self),
                let transcribe = body.readInteger(endianness: .little, as: UInt64.self),
                let count = body.readInteger(endianness: .little, as: UInt32.self),
                Int(count) <= body.readableBytes / 8
            else { throw .truncatedPayload(kind) }
            var silences: [AnalysisResult.Span] = []
            silences.reserveCapacity(Int(count))
            for _ in 0..<count {
                let start = body.readInteger(endianness: .little, as: UInt32.self)!
                let end = body.readInteger(endianness: .little, as: UInt32.self)!
                silences.append(.init(startMs: start, endMs: end))
            }
            guard let text = body.readLengthPrefixed(), let segmentCount = body.readInteger(endianness: .little, as: UInt32.self),
                Int(segmentCount) <= body.readableBytes / 17
            else { throw .truncatedPayload(kind) }
            var segments: [RecognizedSegment] = []
            segments.reserveCapacity(Int(segmentCount))
            for _ in 0..<segmentCount {
                guard let segment = body.readSegment() else { throw .truncatedPayload(kind) }
                segments.append(segment)
            }
            guard let archiveSize = body.readInteger(endianness: .little, as: Int64.self), let archiveHash = body.readLengthPrefixed() else {
                throw .truncatedPayload(kind)
            }
            let timings = AnalysisResult.Timings(
                decode: Double(bitPattern: decode),
                silence: Double(bitPattern: silence),
                transcribe: Double(bitPattern: transcribe)
            )
            return .analysis(
                jobID: jobID,
                result: AnalysisResult(
                    durationSec: Double(bitPattern: duration),
                    silences: silences,
                    transcription: text,
                    segments: segments,
                    timings: timings,
                    archive: archiveSize < 0 ? nil : ArchiveResult(sizeBytes: archiveSize, sha256: archiveHash)
                )
            )
        case .analysisFailed:
            guard let jobID = body.readInteger(endianness: .little, as: UInt64.self) else { throw .truncatedPayload(kind) }
            return .analysisFailed(jobID: jobID, message: body.readString(length: body.readableBytes)!)
        case .sessionChunk:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seq = body.readInteger(endianness: .little, as: UInt64.self),
                let rawCodec = body.readInteger(as: UInt8.self),
                let channels = body.readInteger(as: UInt8.self),
                let rate = body.readInteger(endianness: .little, as: UInt32.self)
            else { throw .truncatedPayload(kind) }
            guard let codec = StreamFormat.Codec(rawValue: rawCodec) else { throw .unknownCodec(rawCodec) }
            let format = StreamFormat(codec: codec, sampleRate: Int(rate), channels: Int(channels))
            return .sessionChunk(clientID: clientID, seq: seq, format: format, audio: body)
        case .decoded:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seq = body.readInteger(endianness: .little, as: UInt64.self),
                let textLength = body.readInteger(endianness: .little, as: UInt32.self),
                let text = body.readString(length: Int(textLength))
            else { throw .truncatedPayload(kind) }
            return .decoded(clientID: clientID, seq: seq, text: text, pcm: body)
        case .endSession:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self) else { throw .truncatedPayload(kind) }
            return .endSession(clientID: clientID)
        case .heartbeat:
            guard let id = body.readInteger(endianness: .little, as: UInt64.self) else { throw .truncatedPayload(kind) }
            return .heartbeat(id: id)
        case .final:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self),
                let seqFrom = body.readInteger(endianness: .little, as: UInt64.self),
                let seqTo = body.readInteger(endianness: .little, as: UInt64.self),
                let segment = body.readSegment()
            else { throw .truncatedPayload(kind) }
            return .final(LiveFinal(clientID: clientID, seqFrom: seqFrom, seqTo: seqTo, segment: segment))
        case .sessionEnded:
            guard let clientID = body.readInteger(endianness: .little, as: UInt64.self) else { throw .truncatedPayload(kind) }
            return .sessionEnded(clientID: clientID)
        case .stats:
            guard let cpu = body.readInteger(endianness: .little, as: UInt64.self),
                let resident = body.readInteger(endianness: .little, as: UInt64.self),
                let fds = body.readInteger(endianness: .little, as: UInt32.self),
                let chunks = body.readInteger(endianness: .little, as: UInt64.self),
                let chunkErrors = body.readInteger(endianness: .little, as: UInt64.self),
                let analyses = body.readInteger(endianness: .little, as: UInt64.self),
                let segmentsQueued = body.readInteger(endianness: .little, as: UInt32.self),
                let secondsQueued = body.readInteger(endianness: .little, as: UInt64.self)
            else { throw .truncatedPayload(kind) }
            let process = ProcessStats(cpuSeconds: Double(bitPattern: cpu), residentBytes: resident, openFDs: fds)
            return .stats(
                WorkerStats(
                    process: process,
                    chunks: chunks,
                    chunkErrors: chunkErrors,
                    analyses: analyses,
                    segmentsQueued: segmentsQueued,
                    secondsQueued: Double(bitPattern: secondsQueued)
                )
            )
        }
    }
}

extension ByteBuffer {
    /// The layout `writeSegment` writes; nil when truncated.
    mutating func readSegment() -> RecognizedSegment? {
        guard let channel = self.readInteger(as: UInt8.self),
            let start = self.readInteger(endianness: .little, as: UInt32.self),
            let end = self.readInteger(endianness: .little, as: UInt32.self),
            let text = self.readLengthPrefixed(),
            let count = self.readInteger(endianness: .little, as: UInt32.self),
            Int(count) <= self.readableBytes / 12
        else { return nil }
        var words: [RecognizedSegment.Word] = []
        words.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let start = self.readInteger(endianness: .little, as: UInt32.self),
                let end = self.readInteger(endianness: .little, as: UInt32.self),
                let word = self.readLengthPrefixed()
            else { return nil }
            words.append(.init(word: word, startMs: start, endMs: end))
        }
        return RecognizedSegment(channel: channel, startMs: start, endMs: end, text: text, words: words)
    }

    mutating func readLengthPrefixed() -> String? {
        guard let length = self.readInteger(endianness: .little, as: UInt32.self) else { return nil }
        return self.readString(length: Int(length))
    }
}
