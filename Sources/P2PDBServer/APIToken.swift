/// A bearer token of the HTTP API and its role.
///
/// Its description names the role only, so that logging a token by mistake
/// does not reveal it.
public struct APIToken: Sendable, Equatable, CustomStringConvertible {
    public var token: String
    public var role: APIRole

    public init(_ token: String, role: APIRole) {
        self.token = token
        self.role = role
    }

    public var description: String { "a \(role.rawValue) API token" }

    /// What every token must be, for the messages that refuse one.
    public static let rule = "at least 16 characters of visible ASCII (no spaces)"

    /// Whether `text` can be a token: long enough not to be guessed, and
    /// sendable as is in an `Authorization` header.
    public static func isWellFormed(_ text: String) -> Bool {
        text.count >= 16 && text.unicodeScalars.allSatisfy { (0x21...0x7E).contains($0.value) }
    }
}
