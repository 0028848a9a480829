/// `PATCH /calls/{id}`: the fields of a call that may change after it was made (a JSON merge
/// patch: each field given replaces the stored one). Any other field is refused, so a typo
/// does not pass for a change.
public struct CallPatch: Equatable, Sendable {
    public var caller: String?
    public var receiver: String?
    public var isPrivate: Bool?

    public static let fieldNames = ["caller", "receiver", "private"]

    public init(_ fields: [String: JSONValue]) throws(InputError) {
        if let other = fields.keys.sorted().first(where: { !Self.fieldNames.contains($0) }) {
            throw InputError(code: "invalid_patch", message: "'\(other.prefix(64))' cannot be changed: a patch sets caller, receiver or private")
        }
        if fields["caller"] != nil { self.caller = try CallFields.phone(fields, "caller") }
        if fields["receiver"] != nil { self.receiver = try CallFields.phone(fields, "receiver") }
        if fields["private"] != nil { self.isPrivate = try CallFields.isPrivate(fields) }
    }
}
