import CallStreamGRPC
import Foundation

/// Stored calls as the gRPC API's messages: the same fields as their REST JSON.
extension Callstream_V1_Call {
    init(_ item: CallWithRecording) {
        self.init()
        let call = item.call
        self.id = call.id.uuidString.lowercased()
        self.caller = call.caller
        self.receiver = call.receiver
        self.externalID = call.externalID ?? ""
        self.startedAt = call.startedAt.iso8601
        self.private = call.isPrivate
        self.status = call.status.rawValue
        self.createdAt = call.createdAt.iso8601
        self.updatedAt = call.updatedAt.iso8601
        if let recording = item.recording { self.recording = Callstream_V1_Recording(recording, status: call.status) }
    }
}

extension Callstream_V1_Recording {
    init(_ recording: Recording, status: CallStatus) {
        self.init()
        self.id = recording.id.uuidString.lowercased()
        self.filename = recording.filename
        self.format = recording.format.rawValue
        self.sizeBytes = recording.sizeBytes
        self.sha256 = recording.sha256
        self.origin = recording.origin.rawValue
        self.status = status.rawValue
        if let duration = recording.durationSec { self.durationSec = duration }
        if let transcription = recording.transcription { self.transcription = transcription }
        self.silenceMarks = (recording.silenceMarks ?? []).map { mark in
            var message = Callstream_V1_SilenceMark()
            message.startMs = Int64(mark.startMs)
            message.endMs = Int64(mark.endMs)
            return message
        }
        if let error = recording.error { self.error = error }
        self.createdAt = recording.createdAt.iso8601
    }
}
