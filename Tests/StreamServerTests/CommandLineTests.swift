import Foundation
import Testing

/// `stream-server`'s command line as an operator meets it.
@Suite struct CommandLineTests {
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
        if environment.isEmpty { return try await runProcess(Binaries.path("stream-server"), arguments) }
        let assignments = environment.map { "\($0.key)=\($0.value)" }
        return try await runProcess("/usr/bin/env", assignments + [Binaries.path("stream-server")] + arguments)
    }

    @Test func helpListsEveryFlagWithItsVariableAndDefault() async throws {
        let (status, help) = try await Self.run(["--help"])
        #expect(status == 0)
        // One entry per option: its text up to the next option.
        let entries = help.components(separatedBy: "\n  --").dropFirst().map { $0.replacingOccurrences(of: "\n", with: " ") }
        #expect(entries.count >= 20)
        for entry in entries {
            let flag = String(entry.prefix { $0 != " " })
            guard flag != "version", flag != "help" && !flag.hasPrefix("help") else { continue }
            let text = entry.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            #expect(text.contains("(env: CALLSTREAM_"), "--\(flag) names its variable")
            #expect(text.contains("default"), "--\(flag) says its default")
        }
    }

    @Test func versionPrintsTheBuild() async throws {
        let (status, output) = try await Self.run(["--version"])
        #expect(status == 0)
        #expect(output.hasPrefix("stream-server 0."))
        #expect(output.contains("build, Swift"))
    }

    @Test(
        arguments: [
            (["--port", "abc"], [:], "--port"),
            (["--workers", "0"], [:], "--workers must be 1...64"),
            (["--log-format", "xml"], [:], "--log-format must be text or json"),
            (["--no-such-flag"], [:], "Unknown option '--no-such-flag'"),
            ([], ["CALLSTREAM_WORKERS": "100"], "--workers must be 1...64 (from CALLSTREAM_WORKERS)"),
            ([], ["CALLSTREAM_RETENTION_DAYS": "-1"], "(from CALLSTREAM_RETENTION_DAYS)"),
            (
                [], ["CALLSTREAM_WORKER_WRITE_INTERVAL_MS": "500"],
                "--worker-write-interval-ms must be 0...100 (from CALLSTREAM_WORKER_WRITE_INTERVAL_MS)"
            ),
        ] as [([String], [String: String], String)]
    )
    func aBadValueFailsWithOneClearLine(arguments: [String], environment: [String: String], expected: String) async throws {
        let (status, output) = try await Self.run(arguments, environment: environment)
        #expect(status == 64)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(output.hasPrefix("stream-server: "))
        #expect(output.contains(expected), "\(output)")
    }
}

/// `load-client`'s live line: on a terminal only.
@Suite struct LoadClientProgressTests {
    @Test func aTerminalGetsTheLiveLineAndAPipeDoesNot() async throws {
        try await withServer { server in
            let arguments = ["--url", server.url, "--clients", "3", "--messages", "150", "--rate-ms", "10"]
            let (piped, plain) = try await runProcess(Binaries.path("load-client"), arguments)
            #expect(piped == 0)
            #expect(!plain.contains("\u{1B}[K") && !plain.contains("transcripts/s"))
            #expect(plain.contains("transcripts received"))
            // `script` gives the load client a pseudo-terminal.
            let command = ([Binaries.path("load-client")] + arguments).joined(separator: " ")
            let (status, terminal) = try await runProcess("/usr/bin/script", ["-qec", command, "/dev/null"])
            #expect(status == 0, "\(terminal)")
            #expect(terminal.contains("\r\u{1B}[Kconnections 3  transcripts/s "), "\(terminal)")
            #expect(terminal.contains("transcripts received"))
        }
    }
}
