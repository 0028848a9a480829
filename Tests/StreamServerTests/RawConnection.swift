import Foundation
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to a test server, for what a well-behaved client library will not
/// do: half a request head, an upgrade the server refuses, a WebSocket that never reads.
struct RawConnection {
    let fd: Int32

    /// `receiveBufferBytes`: a small kernel receive buffer, so a client that does not read
    /// fills up quickly.
    init(port: Int, receiveTimeoutSeconds: Int = 5, receiveBufferBytes: Int32? = nil) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBufferBytes {
            setsockopt(self.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
    }

    func close() { _ = Glibc.close(self.fd) }

    func send(_ text: String) throws { try self.send(Data(text.utf8)) }

    func send(_ data: Data) throws {
        let sent = data.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, 0) }
        try #require(sent == data.count)
    }

    /// Sends without blocking; false once the kernel's buffers are full.
    func trySend(_ data: Data) -> Bool {
        data.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } == data.count
    }

    /// Reads until `marker` has arrived, the peer closes, or the receive timeout passes.
    func receive(until marker: String) async throws -> String {
        try await Self.blocking { [fd] in Self.receive(fd, until: marker) }
    }

    /// Reads until `marker` has arrived on `fd`, the peer closes, or the receive timeout passes.
    static func receive(_ fd: Int32, until marker: String) -> String {
        var received = Data()
        var byte: UInt8 = 0
        while !String(decoding: received, as: UTF8.self).contains(marker), recv(fd, &byte, 1, 0) == 1 {
            received.append(byte)
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Reads and discards until the peer closes (true) or the receive timeout passes (false).
    func drainUntilClosed() async throws -> Bool {
        try await Self.blocking { [fd] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { return true }
                if count < 0 { return errno == ECONNRESET }
            }
        }
    }

    /// Blocking socket reads run on NIO's thread pool: on the two cooperative threads every other
    /// test in the run needs, a read waiting seconds for a server's timeout would stall them all.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// An HTTP answer: status line, headers and a JSON body (read up to its last `}`).
    func receiveJSONAnswer() async throws -> (status: Int, head: String, body: String) {
        let text = try await self.receive(until: "}}")
        let parts = text.components(separatedBy: "\r\n\r\n")
        let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, parts[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// A WebSocket upgrade request's text for `path`.
    static func upgradeRequest(path: String = "/api/audio/ws", headers: [String] = []) -> String {
        ([
            "GET \(path) HTTP/1.1", "Host: 127.0.0.1", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ] + headers)
        .joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// A masked client frame (mask key 0: the payload goes as it is).
    static func clientFrame(opcode: UInt8, payload: [UInt8]) -> Data {
        precondition(payload.count < 126)
        return Data([0x80 | opcode, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload)
    }
}
