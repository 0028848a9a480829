#if canImport(Glibc)
    import Glibc
#endif

/// Random numbers for masking keys, drawn 512 bytes at a time from glibc's `arc4random_buf`
/// (the kernel's generator: one `getrandom` call a refill). A masking key must be unpredictable
/// (RFC 6455, 5.3); `WebSocketMaskingKey.random()` asks the kernel for each one, a `getrandom`
/// system call per chunk sent (10,000 a second at load (a)).
struct MaskKeySource: RandomNumberGenerator {
    private var words = [UInt64](repeating: 0, count: 64)
    private var index = 64

    mutating func next() -> UInt64 {
        if self.index == self.words.count { self.refill() }
        defer { self.index += 1 }
        return self.words[self.index]
    }

    private mutating func refill() {
        self.words.withUnsafeMutableBytes { bytes in
            if let base = bytes.baseAddress { arc4random_buf(base, bytes.count) }
        }
        self.index = 0
    }
}
