/// The error every public P2PDB API throws: a kind that callers can act on
/// (and that the HTTP API maps to a status code) and a one-line message that
/// says what went wrong and, where it helps, what to do.
///
/// ```swift
/// do {
///     try await node.execute("INSERT INTO items(id) VALUES (?)", ["a"])
/// } catch let error as P2PDBError where error.kind == .constraint {
///     print(error.message)   // "UNIQUE constraint failed: items.id"
/// }
/// ```
public struct P2PDBError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// SQL that SQLite cannot compile or run.
        case invalidSQL = "invalid_sql"
        /// Wrong number or kind of statement parameters.
        case invalidParameters = "invalid_parameters"
        /// A statement P2PDB refuses because it would corrupt the replica
        /// or escape replication.
        case refused
        /// The credentials in use do not allow this.
        case forbidden
        /// A constraint (primary key, NOT NULL, ...) rejected a write.
        case constraint
        /// A statement ran too long or returned too much, and was stopped.
        case limitExceeded = "limit_exceeded"
        /// A request, file or option that is malformed.
        case invalidInput = "invalid_input"
        /// Bytes that are truncated, corrupted, forged or tampered with.
        case corrupt
        case notFound = "not_found"
        /// The data directory has not been initialised.
        case notInitialized = "not_initialized"
        /// Another process holds the data directory.
        case locked
        /// The node is shutting down or not accepting work.
        case unavailable
        /// Every connection is busy and the line waiting for one is full:
        /// retry shortly (the HTTP API answers 503 with `Retry-After`).
        case busy
        /// The disk or SQLite failed.
        case storage
        /// The caller gave up on the request (its task was cancelled, or
        /// Ctrl-C in the shell) and it was stopped.
        case cancelled
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
