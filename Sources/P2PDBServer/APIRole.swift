import P2PDB

/// What a bearer token of the HTTP API may do, in order of power.
///
/// | role | may |
/// |---|---|
/// | `read-only` | every GET, and `POST /v1/sql` and `/v1/tx` when every statement reads |
/// | `read-write` | also writes and bundle imports: everything the API does today |
/// | `admin` | everything; the node's own token (`api.token`, `--api-token`) has it |
public enum APIRole: String, Sendable, CaseIterable, Comparable {
    case readOnly = "read-only"
    case readWrite = "read-write"
    case admin

    public static func < (lhs: APIRole, rhs: APIRole) -> Bool { lhs.rank < rhs.rank }

    private var rank: Int {
        switch self {
        case .readOnly: return 0
        case .readWrite: return 1
        case .admin: return 2
        }
    }

    /// Throws 403 `forbidden` unless this role is at least `needed`.
    ///
    /// - Parameter action: why the request needs more, as "this statement writes".
    func require(_ needed: APIRole, for action: String) throws(P2PDBError) {
        guard self >= needed else { throw refusal(action, needs: needed) }
    }

    /// The 403 `forbidden` for a request that needs the role `needed`.
    func refusal(_ action: String, needs needed: APIRole) -> P2PDBError {
        P2PDBError(.forbidden, "this token is \(rawValue); \(action): send it with a \(needed.rawValue) token")
    }
}
