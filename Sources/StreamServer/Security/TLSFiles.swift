import ArgumentParser
import NIOSSL

extension StreamServerCommand {
    /// The server's TLS configuration from `--tls-cert` and `--tls-key`; nil without them. A
    /// file that cannot be read or parsed stops the start with one line naming it.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let certPath = self.tlsCert, let keyPath = self.tlsKey else { return nil }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certPath)
        } catch {
            throw ValidationError("--tls-cert \(certPath): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw ValidationError("--tls-cert \(certPath): no certificate in the file") }
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ValidationError("--tls-key \(keyPath): not a readable PEM private key (\(error))")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}
