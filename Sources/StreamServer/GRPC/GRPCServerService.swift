import CallStreamGRPC
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// The gRPC API on `--grpc-port` (HTTP/2, TLS with `--tls-cert`), beside REST; stops on
/// shutdown with the HTTP server.
struct GRPCServerService: Service {
    let host: String
    let port: Int
    let tls: (certificate: String, key: String)?
    let service: GRPCCallService
    let tokens: AuthTokens?
    let logger: Logger

    func run() async throws {
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            self.tls.map { .tls(certificateChain: [.file(path: $0.certificate, format: .pem)], privateKey: .file(path: $0.key, format: .pem)) }
            ?? .plaintext
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: self.host, port: self.port), transportSecurity: security)
        let server = GRPCServer(
            transport: transport,
            services: [self.service],
            interceptors: self.tokens.map { [GRPCAuthInterceptor(tokens: $0)] } ?? []
        )
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let address = try await transport.listeningAddress.ipv4 {
                    self.logger.info("gRPC on port \(address.port)")
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
