/// A single `Range: bytes=…` request (RFC 9110 §14.1.2) resolved against a file's size.
public enum ByteRange: Equatable, Sendable {
    /// No usable Range header (absent, another unit, or several ranges): send it all.
    case whole
    case partial(ClosedRange<Int64>)
    /// Syntactically a byte range, but none of it is inside the file: 416.
    case unsatisfiable

    public init(header: String?, size: Int64) {
        guard let header, header.lowercased().hasPrefix("bytes=") else {
            self = .whole
            return
        }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else {
            self = .whole
            return
        }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let count = Int64(last), count >= 0 else {
                self = .whole
                return
            }
            guard count > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            self = .partial(max(0, size - count)...(size - 1))
            return
        }
        guard let start = Int64(first), start >= 0 else {
            self = .whole
            return
        }
        var end = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= start else {
                self = .whole
                return
            }
            end = min(value, size - 1)
        }
        self = start < size ? .partial(start...end) : .unsatisfiable
    }
}
