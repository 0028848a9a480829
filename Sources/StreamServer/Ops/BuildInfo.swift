/// What `--version` prints: the version, and how this binary was built.
enum BuildInfo {
    static let version = "0.10.0"

    static var configuration: String {
        #if DEBUG
            "debug"
        #else
            "release"
        #endif
    }

    static var compiler: String {
        #if compiler(>=6.3)
            "Swift 6.3"
        #elseif compiler(>=6.2)
            "Swift 6.2"
        #else
            "Swift < 6.2"
        #endif
    }

    static var platform: String {
        #if arch(x86_64)
            let arch = "x86_64"
        #elseif arch(arm64)
            let arch = "arm64"
        #else
            let arch = "unknown"
        #endif
        #if os(Linux)
            return "\(arch)-linux"
        #else
            return "\(arch)-other"
        #endif
    }

    /// `stream-server 0.10.0 (release build, Swift 6.3, x86_64-linux)`.
    static var summary: String { "stream-server \(version) (\(configuration) build, \(compiler), \(platform))" }
}
