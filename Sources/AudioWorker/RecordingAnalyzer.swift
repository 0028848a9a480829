import AudioAnalysis
import Foundation
import Protocol

/// Analyses one recording file: decodes it (WAV or MP3, recognised by content) in one
/// streaming pass, measures its exact duration, finds its silences, and transcribes it: with
/// a real engine the whole recording, per channel (more passes), with the mock its opening.
/// Memory is bounded by the opening kept for the mock, or one segment for a real engine.
struct RecordingAnalyzer {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var transcriber: any RecordingTranscriber
    /// A real engine: the whole recording's segments, instead of `transcriber`'s opening.
    var recognizer: RecordingRecognizer?
    /// Fault injection for the server's crash handling tests: a worker started with
    /// `CALLSTREAM_WORKER_CRASH_ON_PATH=<text>` dies (SIGABRT) analysing any path containing it.
    var crashOnPath = ProcessInfo.processInfo.environment["CALLSTREAM_WORKER_CRASH_ON_PATH"]
    /// And with `CALLSTREAM_WORKER_HANG_ON_PATH=<text>`, its analysis never ends on such a path.
    var hangOnPath = ProcessInfo.processInfo.environment["CALLSTREAM_WORKER_HANG_ON_PATH"]

    func analyse(_ job: AnalysisJob) throws -> AnalysisResult {
        if let crashOnPath, !crashOnPath.isEmpty, job.path.contains(crashOnPath) {
            PipeIO.log("crashing on purpose (CALLSTREAM_WORKER_CRASH_ON_PATH)")
            abort()
        }
        if let hangOnPath, !hangOnPath.isEmpty, job.path.contains(hangOnPath) {
            PipeIO.log("hanging on purpose (CALLSTREAM_WORKER_HANG_ON_PATH)")
            while true { sleep(3600) }
        }
        guard let file = FileHandle(forReadingAtPath: job.path) else { throw Failure(description: "cannot open the recording") }
        let sniffed = try AudioSniffer.sniff { offset, count in
            try file.seek(toOffset: UInt64(offset))
            return [UInt8](try file.read(upToCount: count) ?? Data())
        }
        try? file.close()
        guard let kind = sniffed else { throw Failure(description: "not a WAV or MP3 file we can decode") }

        let clock = ContinuousClock()
        let started = clock.now
        // Decoding and silence detection share one pass: the detector's share is timed apart.
        var silenceTime = Duration.zero
        var detector: SilenceDetector?
        var sampleRate = 0
        var opening: [Float] = []
        var openingFrames = 0
        let feed: (Int, UnsafeBufferPointer<Float>) -> Void = { rate, samples in
            if detector == nil {
                sampleRate = rate
                detector = SilenceDetector(sampleRate: rate, minSilenceMs: Int(job.minSilenceMs), thresholdDBFS: job.silenceThresholdDBFS)
                openingFrames = rate * Int(job.transcribeSeconds)
                opening.reserveCapacity(self.recognizer == nil ? openingFrames : 0)
            }
            let detecting = clock.now
            detector!.append(samples)
            silenceTime += clock.now - detecting
            if self.recognizer == nil, opening.count < openingFrames {
                opening.append(contentsOf: samples.prefix(openingFrames - opening.count))
            }
        }
        let frames: Int
        switch kind {
        case .wav:
            let decoder = try WAVDecoder(path: job.path)
            let rate = decoder.header.sampleRate
            frames = try decoder.decodeMono { feed(rate, $0) }
            sampleRate = rate
        case .mp3:
            frames = try MP3Decoder(path: job.path).decodeMono { rate, samples in feed(rate, samples) }.frames
        }
        guard sampleRate > 0 else { throw Failure(description: "the recording has no audio") }
        let finishing = clock.now
        let marks = detector?.finish() ?? []
        let transcribing = clock.now
        silenceTime += transcribing - finishing
        var transcription: String
        var segments: [RecognizedSegment] = []
        if let recognizer = self.recognizer {
            segments = try recognizer.segments(path: job.path, kind: kind)
            // `transcription` stays the opening: the segments that start in it.
            let openingMs = UInt64(job.transcribeSeconds) * 1000
            transcription = segments.filter { UInt64($0.startMs) < openingMs }.map(\.text).joined(separator: " ")
        } else {
            transcription = try self.transcriber.transcribe(recordingID: job.recordingID, opening: opening, sampleRate: sampleRate)
        }
        let timings = AnalysisResult.Timings(
            decode: (finishing - started - silenceTime).seconds,
            silence: silenceTime.seconds,
            transcribe: (clock.now - transcribing).seconds
        )
        // The permanent copy: WAV only (an MP3 upload is kept as it came).
        let archive = try job.archive.flatMap { request in kind == .wav ? try RecordingArchiver.archive(wavPath: job.path, request) : nil }
        return AnalysisResult(
            durationSec: Double(frames) / Double(sampleRate),
            silences: marks.map { AnalysisResult.Span(startMs: UInt32(clamping: $0.lowerBound), endMs: UInt32(clamping: $0.upperBound)) },
            transcription: transcription,
            segments: segments,
            timings: timings,
            archive: archive
        )
    }
}

/// Transcribes the opening of a recording (mono samples in [-1, 1)).
protocol RecordingTranscriber {
    func transcribe(recordingID: String, opening: [Float], sampleRate: Int) throws -> String
}

/// The mock engine's text for a recording: deterministic, naming the recording and the
/// seconds it covers.
struct MockRecordingTranscriber: RecordingTranscriber {
    func transcribe(recordingID: String, opening: [Float], sampleRate: Int) throws -> String {
        let seconds = Double(opening.count) / Double(sampleRate)
        return "mock transcription for recording \(recordingID) (0.0-\(String(format: "%.1f", seconds)) s)"
    }
}

extension Duration {
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
