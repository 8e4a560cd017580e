import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore
import Synchronization

/// The authority on what a client's SQL may do, decided where SQLite
/// decides: an authorizer (`sqlite3_set_authorizer`) on every connection
/// that runs client SQL, consulted while SQLite prepares a statement (and
/// prepares it again after a schema change), before any PRAGMA, function or
/// table access takes effect.
///
/// It is strict only while client SQL is prepared or stepped
/// (``client(_:)``); P2PDB's own statements on the same connection are not
/// checked. Inside the bodies of P2PDB's own capture triggers everything is
/// allowed; inside user triggers and views the same rules hold as at the
/// top level. ``StatementGuard`` still reads the text first, for messages
/// that name the alternative; this is what cannot be talked around.
///
/// Refused: PRAGMAs outside a read-only list, reading or writing P2PDB's
/// internal tables and SQLite's own (except its schema table and the
/// AUTOINCREMENT sequence), objects named like P2PDB's,
/// `dbstat`, `sqlite_stmt`, `fts3_tokenizer`, `load_extension` and P2PDB's
/// internal functions, ATTACH and DETACH, temporary and virtual tables,
/// ROLLBACK and savepoints (a request is one transaction), ANALYZE.
///
/// ```swift
/// let authorizer = ClientAuthorizer()
/// authorizer.install(on: connection)
/// let statement = try authorizer.client { try db.makeStatement(sql: clientSQL) }
/// ```
///
/// Its state is only touched on its connection's queue (SQLite calls the
/// authorizer on the thread that prepares), hence `@unchecked Sendable`.
final class ClientAuthorizer: @unchecked Sendable {
    /// Whether client SQL is being prepared or run.
    private var strict = false
    /// The client statements prepared on this connection.
    let statements = ClientStatementCache()
    /// Why the last refusal was made, for the error.
    private var denial: String?
    /// The tables SQLite reported reading while ``recordingReads(_:)`` runs.
    private var readTables: Set<IdentifierKey>?

    /// Installs the authorizer on `connection`, in place of GRDB's (which
    /// feeds features P2PDB does not use: its schema cache and database
    /// observation). The authorizer must outlive the connection.
    func install(on connection: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_set_authorizer(
            connection,
            { context, action, first, second, _, inner in
                guard let context else { return SQLITE_OK }
                return Unmanaged<ClientAuthorizer>.fromOpaque(context).takeUnretainedValue().authorize(action, first, second, inner)
            },
            context)
        self.connection = UInt(bitPattern: connection)
        Self.registry.withLock { $0[UInt(bitPattern: connection)] = Registered(authorizer: self) }
    }

    /// The authorizer installed on `db`'s connection, if any.
    static func of(_ db: Database) -> ClientAuthorizer? {
        guard let connection = db.sqliteConnection else { return nil }
        return registry.withLock { $0[UInt(bitPattern: connection)]?.authorizer }
    }

    /// Authorizers by connection, held weakly: one goes with its store.
    private static let registry = Mutex<[UInt: Registered]>([:])
    private struct Registered: Sendable {
        weak var authorizer: ClientAuthorizer?
    }
    private var connection: UInt?

    deinit {
        guard let connection else { return }
        Self.registry.withLock { registry in
            if registry[connection]?.authorizer == nil { registry[connection] = nil }
        }
    }

    /// Runs `body` (which prepares or steps client SQL) under the client
    /// rules; a refusal becomes a ``P2PDBError`` that says why.
    func client<T>(_ body: () throws -> T) throws -> T {
        let outer = strict
        strict = true
        denial = nil
        defer { strict = outer }
        do {
            return try body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_AUTH || denial != nil {
            // A refused function comes back as a plain SQLite error.
            throw P2PDBError(.refused, denial ?? error.message ?? "not authorized")
        }
    }

    /// Runs `body` and returns, with its result, every table SQLite
    /// reported reading (`SQLITE_READ`) meanwhile: the tables of the
    /// statements `body` prepares, those read through views and
    /// subqueries included. Only statements prepared inside `body` report;
    /// a statement from a cache was prepared before.
    func recordingReads<T>(_ body: () throws -> T) throws -> (T, Set<IdentifierKey>) {
        let outer = readTables
        readTables = []
        defer { readTables = outer }
        let result = try body()
        return (result, readTables ?? [])
    }

    // MARK: Rules

    private func authorize(
        _ action: Int32, _ first: UnsafePointer<CChar>?, _ second: UnsafePointer<CChar>?, _ inner: UnsafePointer<CChar>?
    ) -> Int32 {
        if action == SQLITE_READ, readTables != nil, let first {
            readTables?.insert(IdentifierKey(String(cString: first)))
        }
        guard strict else { return SQLITE_OK }
        // The bodies of P2PDB's capture triggers.
        if let inner, Self.isInternal(inner) { return SQLITE_OK }
        guard let reason = Self.refusal(action, first.map { String(cString: $0) }, second.map { String(cString: $0) }, insideObject: inner != nil)
        else { return SQLITE_OK }
        denial = reason
        return SQLITE_DENY
    }

    private static func isInternal(_ name: UnsafePointer<CChar>) -> Bool {
        strncasecmp(name, "_p2pdb_", 7) == 0
    }

    /// Why a client may not do `action`, or nil if it may.
    static func refusal(_ action: Int32, _ first: String?, _ second: String?, insideObject: Bool) -> String? {
        switch action {
        case SQLITE_PRAGMA:
            let name = (first ?? "").lowercased()
            if readOnlyPragmas.contains(name) && (second == nil || pragmasTakingAName.contains(name)) { return nil }
            return "PRAGMA \(first ?? "") is refused: P2PDB sets connection and file settings itself; read-only schema pragmas (table_info, index_list, ...) are allowed"
        case SQLITE_READ, SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE:
            return tableRefusal(first ?? "", reading: action == SQLITE_READ)
        case SQLITE_FUNCTION:
            let name = (second ?? "").lowercased()
            if name.hasPrefix("_p2pdb_trigger_") && insideObject { return nil }
            if name.hasPrefix("_p2pdb_") || ["load_extension", "fts3_tokenizer"].contains(name) {
                return "the function \(second ?? "") is not available to clients"
            }
            return nil
        case SQLITE_ATTACH, SQLITE_DETACH:
            return "ATTACH and DETACH are refused: a replica is one database file"
        case SQLITE_CREATE_TEMP_TABLE, SQLITE_CREATE_TEMP_INDEX, SQLITE_CREATE_TEMP_VIEW, SQLITE_CREATE_TEMP_TRIGGER:
            return "temporary tables, indexes, views and triggers are refused: every schema object is replicated; drop TEMP"
        case SQLITE_CREATE_VTABLE, SQLITE_DROP_VTABLE:
            return "virtual tables are refused: their contents cannot be replicated"
        case SQLITE_CREATE_TABLE, SQLITE_CREATE_INDEX, SQLITE_CREATE_VIEW, SQLITE_CREATE_TRIGGER,
            SQLITE_DROP_TABLE, SQLITE_DROP_INDEX, SQLITE_DROP_VIEW, SQLITE_DROP_TRIGGER:
            // SQLite names what it makes itself (`sqlite_autoindex_...`,
            // `sqlite_sequence`), and refuses such names from users.
            guard let name = first, SQLText.key(name).hasPrefix("_p2pdb_") else { return nil }
            return "the name \(name) is reserved for P2PDB"
        case SQLITE_TRANSACTION:
            return first?.uppercased() == "ROLLBACK"
                ? "ROLLBACK is refused: a request is one transaction, and a request that fails changes nothing" : nil
        case SQLITE_SAVEPOINT:
            return "SAVEPOINT is refused: each request runs as one transaction, and a request that fails changes nothing"
        case SQLITE_ANALYZE:
            return "ANALYZE is refused: P2PDB manages the database file itself"
        default:
            return nil
        }
    }

    private static func tableRefusal(_ table: String, reading: Bool) -> String? {
        let key = SQLText.key(table)
        if key.hasPrefix("_p2pdb_") {
            return "\(table) is an internal P2PDB table; read the log with `p2pdb log` or GET /v1/entries"
        }
        // SQLite reads and writes its schema table while it prepares; a
        // client may read it, and DEFENSIVE mode stops writes to it. The
        // sequence of AUTOINCREMENT tables is SQLite's business: P2PDB gives
        // such rows keys of its own anyway.
        if ["sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema", "sqlite_sequence"].contains(key.text) {
            return nil
        }
        if key.hasPrefix("sqlite_") || ["dbstat", "sqlite_stmt", "sqlite_dbpage"].contains(key.text) {
            return "\(table) is SQLite's own; it is not available to clients" + (reading ? "" : " to write")
        }
        return nil
    }

    /// Pragmas that only read the schema or check the file.
    private static let readOnlyPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check", "compile_options", "collation_list", "function_list",
        "pragma_list", "user_version", "application_id", "schema_version", "data_version", "encoding", "page_size",
        "page_count", "freelist_count", "foreign_keys",
    ]
    /// Of those, the ones whose argument names a table or index (or a
    /// number of errors to report) rather than setting a value.
    private static let pragmasTakingAName: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check",
    ]
}
