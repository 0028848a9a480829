import Crypto
import Foundation

/// A session's resume token: 192 random bits, base64url. The server keeps only its SHA-256,
/// so the registry is keyed by digests (which a guesser cannot steer) and the one comparison
/// is swift-crypto's constant-time digest equality. Never logged.
struct ResumeToken: Sendable {
    let text: String
    let digest: SHA256Digest

    static func random() -> ResumeToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
        return ResumeToken(text: text, digest: SHA256.hash(data: Data(text.utf8)))
    }

    static func digest(of text: String) -> SHA256Digest {
        SHA256.hash(data: Data(text.utf8))
    }

    /// The registry key: the digest's bytes.
    static func key(_ digest: SHA256Digest) -> Data { Data(digest) }
}
