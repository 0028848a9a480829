import Foundation

/// A recording the PBX finished: an audio file (`.wav` or `.mp3`) and the JSON metadata file of
/// the same base name, in one watched folder.
struct RecordingPair: Hashable, Sendable {
    let folder: String
    let base: String
    let audioExtension: String

    static let audioExtensions = ["wav", "mp3"]

    var audioName: String { "\(self.base).\(self.audioExtension)" }
    var metadataName: String { "\(self.base).json" }
    var audioPath: String { "\(self.folder)/\(self.audioName)" }
    var metadataPath: String { "\(self.folder)/\(self.metadataName)" }

    /// The pairs complete in `folder` now (both files present).
    static func scan(_ folder: String) -> [RecordingPair] {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        return names.compactMap { name in
            let url = URL(fileURLWithPath: name)
            let ext = url.pathExtension.lowercased()
            guard Self.audioExtensions.contains(ext) else { return nil }
            let base = url.deletingPathExtension().lastPathComponent
            guard names.contains("\(base).json") else { return nil }
            return RecordingPair(folder: folder, base: base, audioExtension: url.pathExtension)
        }.sorted { $0.base < $1.base }
    }

    /// The pair a changed file belongs to, if its partner is there too. The partner's name is
    /// looked up directly, not by listing the folder (a folder of many files drains in linear
    /// time); an audio extension in mixed case (`.Wav`) is left to the periodic rescan.
    static func pair(of name: String, in folder: String) -> RecordingPair? {
        let url = URL(fileURLWithPath: name)
        let base = url.deletingPathExtension().lastPathComponent
        let ext = url.pathExtension.lowercased()
        if ext == "json" {
            let spellings = Self.audioExtensions + Self.audioExtensions.map { $0.uppercased() }
            guard let audio = spellings.first(where: { FileManager.default.fileExists(atPath: "\(folder)/\(base).\($0)") }) else { return nil }
            return RecordingPair(folder: folder, base: base, audioExtension: audio)
        }
        guard Self.audioExtensions.contains(ext), FileManager.default.fileExists(atPath: "\(folder)/\(base).json") else { return nil }
        return RecordingPair(folder: folder, base: base, audioExtension: url.pathExtension)
    }

    /// Both files' sizes and modification times: a pair is taken once this stops changing.
    var fingerprint: [Int64]? {
        var result: [Int64] = []
        for path in [self.audioPath, self.metadataPath] {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            result += [Int64(info.st_size), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec)]
        }
        return result
    }
}
