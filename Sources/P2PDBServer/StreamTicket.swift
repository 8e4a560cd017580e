import Crypto
import Foundation
import P2PDB

/// A short-lived ticket that opens one event stream without the bearer
/// token: a browser's `EventSource` cannot send an `Authorization` header,
/// and a long-lived token in a URL ends up in logs and history.
///
/// ```
/// POST /v1/tickets                      (Authorization: Bearer <token>)
///   → {"ticket": "v1.1764844800000.read-only.3q2…", "expires_in": 60}
/// new EventSource("/v1/changes?ticket=v1.1764844800000.read-only.3q2…")
/// ```
///
/// A ticket is `v1.<expiry in ms>.<role>.<HMAC-SHA256 of the rest>` under a
/// key that lives in the node's memory only: it needs no storage, and a
/// restart voids every ticket. It opens event streams (GET requests to the
/// paths that stream) and nothing else, with at most the role of the token
/// that asked for it, until it expires; a stream already open stays open.
struct StreamTicketIssuer: Sendable {
    private let key = SymmetricKey(size: .bits256)
    let lifetime: Duration

    init(lifetime: Duration = .seconds(60)) {
        self.lifetime = lifetime
    }

    /// A ticket for `role`, valid from `now` (milliseconds since 1970).
    func issue(role: APIRole, now: Int64) -> (ticket: String, expires: Int64) {
        let expires = now + lifetime.components.seconds * 1000
        let body = "v1.\(expires).\(role.rawValue)"
        return (body + "." + Self.base64URL(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key)), expires)
    }

    /// The role a ticket carries, if its code is right and it has not expired.
    func role(of ticket: String, now: Int64) -> APIRole? {
        guard let dot = ticket.lastIndex(of: ".") else { return nil }
        let body = ticket[..<dot]
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let expires = Int64(parts[1]), let role = APIRole(rawValue: String(parts[2])),
            now <= expires, let code = Self.decodeBase64URL(ticket[ticket.index(after: dot)...]),
            HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Data(body.utf8), using: key)
        else { return nil }
        return role
    }

    private static func base64URL(_ code: some Sequence<UInt8>) -> String {
        Data(code).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    private static func decodeBase64URL(_ text: Substring) -> Data? {
        var base64 = text.replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: String(base64))
    }
}
