import Foundation

/// A JSON value of any type, to tell "missing" from "wrong type".
public enum JSONValue: Decodable, Equatable, Sendable {
    case string(String), bool(Bool), number(Double), null, other

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else {
            self = .other
        }
    }

    /// The members of a JSON object (nested values are `.other`), or nil if `data` is not one.
    public static func object(_ data: Data) -> [String: JSONValue]? {
        try? JSONDecoder().decode([String: JSONValue].self, from: data)
    }
}
