import Foundation
import Testing

/// The contract the server serves is the one checked in (`scripts/embed-openapi.sh` embeds
/// it); `scripts/contract-test.sh` checks the server against it with schemathesis.
@Suite struct ContractTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theServedContractIsTheCheckedInFile() async throws {
        let file = try String(contentsOf: Self.repository.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        try await withServer { server in
            let answer = try await server.request("GET", "/openapi.yaml")
            #expect(answer.status == 200)
            #expect(answer.headers["content-type"]?.hasPrefix("application/yaml") == true)
            #expect(String(decoding: answer.body, as: UTF8.self) == file, "run scripts/embed-openapi.sh after editing openapi.yaml")
        }
    }

    @Test func everyRouteIsInTheContract() async throws {
        let file = try String(contentsOf: Self.repository.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        for route in [
            "/calls:", "/calls/{id}:", "/calls/{id}/recording:", "/calls/{id}/download:", "/calls/{id}/transcript:", "/healthz:", "/readyz:",
            "/api/audio/health:", "/metrics:", "/openapi.yaml:",
        ] {
            #expect(file.contains("\n  \(route)\n"), "\(route)")
        }
    }
}
