import NIOCore

/// Appends pipe frames to a buffer. Several frames go into one buffer so that one `write`
/// carries a whole batch.
extension ByteBuffer {
    /// Appends `frame` and returns the number of bytes written.
    @discardableResult
    public mutating func writePipeFrame(_ frame: PipeFrame) -> Int {
        switch frame {
        case .chunk(let clientID, let seq, let audio):
            var audio = audio
            return self.writeChunkFrame(clientID: clientID, seq: seq, audio: &audio)
        case .result(let clientID, let seq, let text):
            return self.writeFrame(.result) { buffer in
                buffer.writeInteger(clientID, endianness: .little)
                buffer.writeInteger(seq, endianness: .little)
                buffer.writeString(text)
            }
        case .error(let clientID, let seq, let code, let message):
            return self.writeFrame(.error) { buffer in
                buffer.writeInteger(clientID, endianness: .little)
                buffer.writeInteger(seq, endianness: .little)
                let codeBytes = Array(code.utf8.prefix(Int(UInt16.max)))
                buffer.writeInteger(UInt16(codeBytes.count), endianness: .little)
                buffer.writeBytes(codeBytes)
                buffer.writeString(message)
            }
        case .ready(let engine):
            return self.writeFrame(.ready) { $0.writeString(engine) }
        case .shutdown:
            return self.writeFrame(.shutdown) { _ in }
        case .analyse(let job):
            // [u64 job][u32 min silence ms][f64 threshold][u32 seconds][u16 id length][id]
            // [u32 archive bitrate, 0: none][u32 length][archive path][path]
            return self.writeFrame(.analyse) { buffer in
                buffer.writeInteger(job.jobID, endianness: .little)
                buffer.writeInteger(job.minSilenceMs, endianness: .little)
                buffer.writeInteger(job.silenceThresholdDBFS.bitPattern, endianness: .little)
                buffer.writeInteger(job.transcribeSeconds, endianness: .little)
                let idBytes = Array(job.recordingID.utf8.prefix(Int(UInt16.max)))
                buffer.writeInteger(UInt16(idBytes.count), endianness: .little)
                buffer.writeBytes(idBytes)
                buffer.writeInteger(job.archive?.bitrateKbps ?? 0, endianness: .little)
                buffer.writeLengthPrefixed(job.archive?.path ?? "")
                buffer.writeString(job.path)
            }
        case .analysis(let jobID, let result):
            // [u64 job][f64 duration][f64 × 3 stage seconds][u32 count][(u32 start, u32 end) × count]
            // [u32 length][transcription][u32 count][segment × count][i64 archive size, -1: none][u32 length][sha256]
            return self.writeFrame(.analysis) { buffer in
                buffer.writeInteger(jobID, endianness: .little)
                buffer.writeInteger(result.durationSec.bitPattern, endianness: .little)
                for seconds in [result.timings.decode, result.timings.silence, result.timings.transcribe] {
                    buffer.writeInteger(seconds.bitPattern, endianness: .little)
                }
                buffer.writeInteger(UInt32(result.silences.count), endianness: .little)
                for span in result.silences {
                    buffer.writeInteger(span.startMs, endianness: .little)
                    buffer.writeInteger(span.endMs, endianness: .little)
                }
                buffer.writeLengthPrefixed(result.transcription)
                buffer.writeInteger(UInt32(result.segments.count), endianness: .little)
                for segment in result.segments { buffer.writeSegment(segment) }
                buffer.writeInteger(result.archive?.sizeBytes ?? -1, endianness: .little)
                buffer.writeLengthPrefixed(result.archive?.sha256 ?? "")
            }
        case .analysisFailed(let jobID, let message):
            return self.writeFrame(.analysisFailed) { buffer in
                buffer.writeInteger(jobID, endianness: .little)
                buffer.writeString(message)
            }
        case .sessionChunk(let clientID, let seq, let format, let audio):
            var audio = audio
            return self.writeSessionChunkFrame(clientID: clientID, seq: seq, format: format, audio: &audio)
        case .decoded(let clientID, let seq, let text, let pcm):
            var pcm = pcm
            return self.writeDecodedFrame(clientID: clientID, seq: seq, text: text, pcm: &pcm)
        case .endSession(let clientID):
            return self.writeFrame(.endSession) { $0.writeInteger(clientID, endianness: .little) }
        case .heartbeat(let id):
            return self.writeFrame(.heartbeat) { $0.writeInteger(id, endianness: .little) }
        case .final(let final):
            // [u64 client][u64 seq from][u64 seq to][segment]
            return self.writeFrame(.final) { buffer in
                buffer.writeInteger(final.clientID, endianness: .little)
                buffer.writeInteger(final.seqFrom, endianness: .little)
                buffer.writeInteger(final.seqTo, endianness: .little)
                buffer.writeSegment(final.segment)
            }
        case .sessionEnded(let clientID):
            return self.writeFrame(.sessionEnded) { $0.writeInteger(clientID, endianness: .little) }
        case .stats(let stats):
            // [f64 cpu seconds][u64 resident bytes][u32 open fds][u64 chunks][u64 chunk errors][u64 analyses]
            // [u32 segments queued][f64 seconds queued]
            return self.writeFrame(.stats) { buffer in
                buffer.writeInteger(stats.process.cpuSeconds.bitPattern, endianness: .little)
                buffer.writeInteger(stats.process.residentBytes, endianness: .little)
                buffer.writeInteger(stats.process.openFDs, endianness: .little)
                buffer.writeInteger(stats.chunks, endianness: .little)
                buffer.writeInteger(stats.chunkErrors, endianness: .little)
                buffer.writeInteger(stats.analyses, endianness: .little)
                buffer.writeInteger(stats.segmentsQueued, endianness: .little)
                buffer.writeInteger(stats.secondsQueued.bitPattern, endianness: .little)
            }
        }
    }

    /// Appends a session chunk: `[u64 client][u64 seq][u8 codec][u8 channels][u32 rate][audio]`.
    @discardableResult
    public mutating func writeSessionChunkFrame(clientID: UInt64, seq: UInt64, format: StreamFormat, audio: inout ByteBuffer) -> Int {
        self.writeFrame(.sessionChunk) { buffer in
            buffer.writeInteger(clientID, endianness: .little)
            buffer.writeInteger(seq, endianness: .little)
            buffer.writeInteger(format.codec.rawValue)
            buffer.writeInteger(UInt8(truncatingIfNeeded: format.channels))
            buffer.writeInteger(UInt32(truncatingIfNeeded: format.sampleRate), endianness: .little)
            buffer.writeBuffer(&audio)
        }
    }

    /// Appends a decoded chunk: `[u64 client][u64 seq][u32 text length][text][pcm]`.
    @discardableResult
    public mutating func writeDecodedFrame(clientID: UInt64, seq: UInt64, text: String, pcm: inout ByteBuffer) -> Int {
        self.writeFrame(.decoded) { buffer in
            buffer.writeInteger(clientID, endianness: .little)
            buffer.writeInteger(seq, endianness: .little)
            buffer.writeInteger(UInt32(text.utf8.count), endianness: .little)
            buffer.writeString(text)
            buffer.writeBuffer(&pcm)
        }
    }

    /// Appends a chunk frame, copying the readable bytes of `audio` once.
    @discardableResult
    public mutating func writeChunkFrame(clientID: UInt64, seq: UInt64, audio: inout ByteBuffer) -> Int {
        self.writeFrame(.chunk) { buffer in
            buffer.writeInteger(clientID, endianness: .little)
            buffer.writeInteger(seq, endianness: .little)
            buffer.writeBuffer(&audio)
        }
    }

    /// Appends a result frame without building an intermediate `PipeFrame`.
    @discardableResult
    public mutating func writeResultFrame(clientID: UInt64, seq: UInt64, text: some StringProtocol) -> Int {
        self.writeFrame(.result) { buffer in
            buffer.writeInteger(clientID, endianness: .little)
            buffer.writeInteger(seq, endianness: .little)
            buffer.writeString(String(text))
        }
    }

    /// `[u8 channel][u32 start ms][u32 end ms][u32 length][text][u32 count][word × count]`,
    /// a word being `[u32 start ms][u32 end ms][u32 length][word]`.
    mutating func writeSegment(_ segment: RecognizedSegment) {
        self.writeInteger(segment.channel)
        self.writeInteger(segment.startMs, endianness: .little)
        self.writeInteger(segment.endMs, endianness: .little)
        self.writeLengthPrefixed(segment.text)
        self.writeInteger(UInt32(segment.words.count), endianness: .little)
        for word in segment.words {
            self.writeInteger(word.startMs, endianness: .little)
            self.writeInteger(word.endMs, endianness: .little)
            self.writeLengthPrefixed(word.word)
        }
    }

    mutating func writeLengthPrefixed(_ text: String) {
        self.writeInteger(UInt32(text.utf8.count), endianness: .little)
        self.writeString(text)
    }

    /// Writes the header with a placeholder length, the body, then patches the length.
    private mutating func writeFrame(_ kind: PipeFrame.Kind, body: (inout ByteBuffer) -> Void) -> Int {
        let start = self.writerIndex
        self.writeInteger(UInt32(0), endianness: .little)
        self.writeInteger(PipeFrame.version)
        self.writeInteger(kind.rawValue)
        body(&self)
        let length = self.writerIndex - start - 4
        self.setInteger(UInt32(length), at: start, endianness: .little)
        return self.writerIndex - start
    }
}
