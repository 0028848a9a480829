import Foundation
import Testing

/// No Docker engine runs here: `scripts/check-containers.py` checks Dockerfile and compose.yml
/// against the package and the built binaries instead (see its header for what it checks).
@Suite struct ContainerTests {
    @Test func dockerfileAndComposeAgreeWithThePackage() async throws {
        let python = ContractTests.repository.appendingPathComponent(".venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run `make setup` first: it makes .venv")
        let script = ContractTests.repository.appendingPathComponent("scripts/check-containers.py").path
        let (status, output) = try await runProcess(python, [script, Binaries.directory.path])
        #expect(status == 0, "\(output)")
    }
}
