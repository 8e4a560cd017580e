import GRDB
import P2PDBCore

/// Prepares the statements of a request, under the connection's
/// ``ClientAuthorizer``.
///
/// Most requests are one statement sent again and again with new
/// parameters; those come from the connection's statement cache, prepared
/// once. Text holding several statements is prepared one statement at a
/// time, so that each can use what the previous one created.
enum StatementSource {
    /// A prepared statement from the connection's client statement cache
    /// (P2PDB's scratch connections have none, and prepare each time).
    /// Prepared under the client rules, like every client statement.
    static func cachedStatement(_ sql: String, _ db: Database) throws -> Statement {
        try preparing(db) {
            guard let cache = ClientAuthorizer.of(db)?.statements else { return try db.makeStatement(sql: sql) }
            return try cache.statement(sql, db)
        }
    }

    /// Runs `body`, which prepares client SQL, under the connection's
    /// ``ClientAuthorizer`` (P2PDB's scratch connections have none).
    static func underClientRules<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        guard let authorizer = ClientAuthorizer.of(db) else { return try body() }
        return try authorizer.client(body)
    }

    /// Prepares client SQL; when SQLite refuses it, checks once that this
    /// connection's schema is current and tries again. SQLite verifies the
    /// schema only when a statement runs, so a connection whose schema holds
    /// a view it could not read (circular until another replica's table
    /// took the name) kept refusing every statement naming it.
    static func preparing<T>(_ db: Database, _ prepare: () throws -> T) throws -> T {
        do {
            return try underClientRules(db, prepare)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
            guard (try? Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema")) != nil else { throw error }
            return try underClientRules(db, prepare)
        }
    }

    /// SQL P2PDB writes itself, made safe for GRDB's statement cache: text
    /// outside ASCII carries its own bytes in a comment, so that the NFC
    /// and NFD spellings of one statement are two keys there.
    static func cacheKeyed(_ sql: String) -> String {
        sql.utf8.allSatisfy({ $0 < 0x80 }) ? sql : sql + " /* \(Hex.encode(Array(sql.utf8))) */"
    }

    /// Calls `body` with each statement of the request, its parameters
    /// bound (and given, for a look at their values), until `body` returns
    /// false.
    ///
    /// - Returns: false if `body` stopped the iteration.
    ///
    /// - Parameter fresh: prepare every statement now rather than take it
    ///   from the cache, so that the authorizer sees it (for the tables it
    ///   reads).
    @discardableResult
    static func forEach(
        _ request: SQLRequest, _ db: Database, fresh: Bool = false, _ body: (Statement, ArraySlice<Value>) throws -> Bool
    ) throws -> Bool {
        var last: (sql: String, statement: Statement)?
        return try forEach(request, db, last: &last, fresh: fresh, body)
    }

    /// The same, reusing `last` when the request repeats the text it was
    /// prepared from: a batch of one INSERT a thousand times looks the
    /// statement up once.
    @discardableResult
    static func forEach(
        _ request: SQLRequest, _ db: Database, last: inout (sql: String, statement: Statement)?, fresh: Bool = false,
        _ body: (Statement, ArraySlice<Value>) throws -> Bool
    ) throws -> Bool {
        // SQLite reads SQL as a C string: whatever follows a NUL would be
        // dropped without a word.
        guard !request.sql.utf8.contains(0) else {
            throw P2PDBError(.invalidInput, "the SQL text contains a NUL character; pass such values as parameters")
        }
        var next = 0
        func run(_ statement: Statement) throws -> Bool {
            let first = next
            try statement.bindRaw(from: request.parameters, next: &next)
            return try body(statement, request.parameters[first..<next])
        }
        // By bytes: `==` takes NFC and NFD spellings for one text.
        if let last, last.sql.utf8.elementsEqual(request.sql.utf8) {
            guard try run(last.statement) else { return false }
        } else if !fresh, let statement = try? cachedStatement(request.sql, db) {
            last = (request.sql, statement)
            guard try run(statement) else { return false }
        } else {
            let statements = try underClientRules(db) { try db.allStatements(sql: request.sql) }
            while let statement = try preparing(db, { try statements.next() }) {
                guard try run(statement) else { return false }
            }
        }
        guard next == request.parameters.count else {
            throw P2PDBError(
                .invalidParameters,
                "wrong number of statement parameters: the SQL takes \(next), \(request.parameters.count) given")
        }
        return true
    }
}
