import ThreadScheduling

/// Decoding finals and analysing recordings run at a lower CPU priority (nice 10) than the
/// worker's main loop and the server: when the cores are busy, acks, partials and heartbeats
/// go first and finals come a little later, never the other way round. On Linux the nice
/// value is per thread, and threads inherit it from the thread that starts them, so the
/// threads onnxruntime starts for Moonshine inherit it too when the model is loaded from one.
enum BackgroundPriority {
    static let niceness: Int32 = 10

    /// Lowers the calling thread's priority.
    static func lowerCurrentThread() {
        CurrentThread.lowerPriority(to: Self.niceness)
    }
}
