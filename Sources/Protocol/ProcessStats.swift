#if canImport(Glibc)
    import Glibc
#endif

/// A process's own CPU time, resident memory and open descriptors, read from the kernel:
/// the server's and each worker's `/metrics` figures.
public struct ProcessStats: Equatable, Sendable {
    public var cpuSeconds: Double
    public var residentBytes: UInt64
    public var openFDs: UInt32

    public init(cpuSeconds: Double, residentBytes: UInt64, openFDs: UInt32) {
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
        self.openFDs = openFDs
    }

    /// This process, now.
    public static func current() -> ProcessStats {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return ProcessStats(cpuSeconds: cpu, residentBytes: Self.residentBytes(), openFDs: Self.openFDs())
    }

    /// `/proc/<pid>/statm`'s second field (resident pages) in bytes; this process's by default.
    public static func residentBytes(pid: Int32? = nil) -> UInt64 {
        let descriptor = open(pid.map { "/proc/\($0)/statm" } ?? "/proc/self/statm", O_RDONLY)
        guard descriptor >= 0 else { return 0 }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        let fields = bytes[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Entries of `/proc/self/fd`, less the one the listing itself holds open.
    private static func openFDs() -> UInt32 {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count: UInt32 = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return count > 0 ? count - 1 : 0
    }
}

/// What a worker reports in its `stats` frame.
public struct WorkerStats: Equatable, Sendable {
    public var process: ProcessStats
    /// Live chunks answered (transcribed or refused) since the worker started.
    public var chunks: UInt64
    /// Of those, chunks answered with an error (a corrupt Opus packet, say).
    public var chunkErrors: UInt64
    /// Recording analyses finished since the worker started.
    public var analyses: UInt64
    /// A real engine's live segments waiting for their finals, and their audio in seconds:
    /// how far decoding is behind real time.
    public var segmentsQueued: UInt32
    public var secondsQueued: Double

    public init(process: ProcessStats, chunks: UInt64, chunkErrors: UInt64, analyses: UInt64, segmentsQueued: UInt32 = 0, secondsQueued: Double = 0) {
        self.process = process
        self.chunks = chunks
        self.chunkErrors = chunkErrors
        self.analyses = analyses
        self.segmentsQueued = segmentsQueued
        self.secondsQueued = secondsQueued
    }
}
