import P2PDB

/// `serve --api-tokens FILE`: more bearer tokens for the HTTP API beside the
/// node's own, one `ROLE TOKEN` a line.
///
/// ```
/// # the reporting dashboard
/// read-only   0b6f1c0e5d3a4e7f9a2b8c4d
/// read-write  9d8e7f6a5b4c3d2e1f0a9b8c
/// ```
///
/// Blank lines and lines that start with `#` are skipped. The file must be
/// its owner's alone (mode 0600), like the node key. Messages about a line
/// never quote it: it may hold a token.
public struct APITokenFile: Sendable {
    public let path: String
    /// The tokens with the line each is on.
    let lines: [(number: Int, token: APIToken)]

    /// Reads and checks the file at `path`.
    public init(path: String) throws(P2PDBError) {
        try self.init(path: path, text: PrivateFile.read(path, holding: "API tokens"))
    }

    init(path: String, text: String) throws(P2PDBError) {
        self.path = path
        var lines: [(number: Int, token: APIToken)] = []
        var seen: [String: Int] = [:]
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            guard let role = APIRole(rawValue: String(first)) else {
                let roles = APIRole.allCases.map(\.rawValue).joined(separator: ", ")
                throw Self.error(path, number, "the line must start with a role: \(roles)")
            }
            guard fields.count == 2 else {
                throw Self.error(
                    path, number, fields.count < 2
                        ? "the role has no token; write ROLE TOKEN"
                        : "more than ROLE TOKEN; a token has no spaces, and comments go on lines of their own")
            }
            let token = String(fields[1])
            guard APIToken.isWellFormed(token) else { throw Self.error(path, number, "the token must be \(APIToken.rule)") }
            if let earlier = seen[token] { throw Self.error(path, number, "the same token as line \(earlier); give each token once") }
            seen[token] = number
            lines.append((number, APIToken(token, role: role)))
        }
        self.lines = lines
    }

    /// The file's tokens, once it is known that none is the node's own
    /// token, which has the admin role already.
    public func tokens(besides nodeToken: String) throws(P2PDBError) -> [APIToken] {
        if let same = lines.first(where: { $0.token.token == nodeToken }) {
            throw Self.error(path, same.number, "this is the node's own API token, which is admin already; give each token once")
        }
        return lines.map(\.token)
    }

    private static func error(_ path: String, _ line: Int, _ message: String) -> P2PDBError {
        P2PDBError(.invalidInput, "the API tokens file \(path), line \(line): \(message)")
    }
}
