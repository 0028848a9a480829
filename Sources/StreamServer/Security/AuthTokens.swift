import Crypto
import Foundation
import NIOConcurrencyHelpers

/// The bearer tokens that may use the API (`--auth-tokens-file`: one token a line; blank lines
/// and lines starting with `#` are skipped), reloadable while the server runs.
///
/// Only SHA-256 digests are kept, and a presented token is hashed and compared with every
/// digest in constant time (swift-crypto's digest equality), so neither the comparison nor
/// the token's length tells an attacker how close a guess came.
final class AuthTokens: Sendable {
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    let path: String
    private let digests: NIOLockedValueBox<[SHA256Digest]>

    /// Reads `path`; throws if it cannot be read or holds no token.
    init(path: String) throws {
        self.path = path
        self.digests = NIOLockedValueBox(try Self.load(path))
    }

    var count: Int { self.digests.withLockedValue { $0.count } }

    /// Reads the file again; on failure the tokens in use stay as they were.
    func reload() throws -> Int {
        let loaded = try Self.load(self.path)
        self.digests.withLockedValue { $0 = loaded }
        return loaded.count
    }

    func accepts(_ token: String) -> Bool {
        let presented = SHA256.hash(data: Data(token.utf8))
        let digests = self.digests.withLockedValue { $0 }
        // No early exit: every digest is compared.
        var found = false
        for digest in digests where digest == presented {
            found = true
        }
        return found
    }

    private static func load(_ path: String) throws -> [SHA256Digest] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LoadError(description: "cannot read the tokens file \(path): \(error.localizedDescription)")
        }
        let tokens = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !tokens.isEmpty else { throw LoadError(description: "the tokens file \(path) holds no token") }
        return tokens.map { SHA256.hash(data: Data($0.utf8)) }
    }
}
