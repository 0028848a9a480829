/// `--max-recording-minutes`, as messages say it.
enum RecordingLimit {
    /// `90` → "1.5", `600` → "10".
    static func minutesText(_ seconds: Double) -> String {
        let minutes = seconds / 60
        return minutes == minutes.rounded() ? String(Int(minutes)) : String(minutes)
    }
}
