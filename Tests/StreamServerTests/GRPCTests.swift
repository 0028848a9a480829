import Foundation
import Testing

/// `--grpc-port` through a third-party client: Python grpcio, stubs generated from the
/// committed proto (`scripts/grpc_client_check.py` asserts each answer and exits 0).
@Suite struct GRPCTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The port the server logged for `--grpc-port 0`.
    static func port(_ server: TestServer) async throws -> Int {
        for _ in 0..<250 {
            if let range = server.log.range(of: "gRPC on port "), let port = Int(server.log[range.upperBound...].prefix { $0.isNumber }) {
                return port
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("no gRPC port in the log")
    }

    static func runClientCheck(_ server: TestServer, token: String? = nil) async throws -> (Int32, String) {
        let python = Self.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        let script = Self.repositoryRoot.appendingPathComponent("scripts/grpc_client_check.py").path
        let port = try await Self.port(server)
        return try await runProcess(python, [script, String(port), CallAPITests.audioDirectory.path] + (token.map { [$0] } ?? []))
    }

    /// Every RPC (StreamAudio too), their errors and idempotency, as grpcio sees them.
    @Test func pythonGrpcioCallsEveryRPC() async throws {
        try await withServer(arguments: ["--grpc-port", "0"]) { server in
            let (status, output) = try await Self.runClientCheck(server)
            #expect(status == 0, "\(output)")
            #expect(output.contains("grpc client checks: ok"))
        }
    }

    /// With `--auth-tokens-file`, gRPC takes the same tokens as REST (UNAUTHENTICATED without).
    @Test func grpcTakesTheRESTTokens() async throws {
        let tokens = try SecurityTests.tokensFile(["grpc-secret"])
        try await withServer(arguments: ["--grpc-port", "0", "--auth-tokens-file", tokens.path]) { server in
            let (status, output) = try await Self.runClientCheck(server, token: "grpc-secret")
            #expect(status == 0, "\(output)")
            #expect(output.contains("grpc client checks: ok"))
        }
    }
}
