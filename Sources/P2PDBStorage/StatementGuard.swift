import P2PDBCore
import Synchronization

/// Decides, from a statement's tokens, whether P2PDB runs it and how.
///
/// SQLite's own defensive settings (no ATTACH, no extension loading, no
/// writable_schema) and the change capture's check of every written table
/// stand behind this; the guard exists to refuse early with a message that
/// says why and what to do instead.
enum StatementGuard {
    enum Kind: Equatable {
        /// SELECT, VALUES, WITH, EXPLAIN, read-only PRAGMA, or DML: run as is.
        case plain
        /// DELETE (after a WITH clause too): run as is. Triggers tell it
        /// from the deletes REPLACE makes.
        case delete
        case createTable
        case createIndex
        case alterTableAddColumn
        case createView
        case createTrigger
        case drop(Drop)
        case begin
        case commit
    }

    /// The statement's own verb after its WITH clause (whose tables are in
    /// parentheses).
    private static func mainVerb(_ tokens: [SQLText.Token]) -> String? {
        var depth = 0
        for token in tokens {
            if token.isPunctuation("(") {
                depth += 1
            } else if token.isPunctuation(")") {
                depth -= 1
            } else if depth == 0, let keyword = token.keyword, ["SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"].contains(keyword) {
                return keyword
            }
        }
        return nil
    }

    /// A DROP statement: what it names, and whether it said IF EXISTS.
    struct Drop: Equatable {
        var object: String
        var name: String
        var ifExists: Bool
    }

    static func classify(_ sql: String) throws(P2PDBError) -> Kind {
        if let kind = cache.withLock({ $0[sql] }) { return kind }
        guard let tokens = SQLText.tokenize(sql) else {
            throw P2PDBError(.invalidSQL, "unterminated string, identifier or comment in SQL")
        }
        let kind = try classify(tokens)
        guard sql.utf8.count <= ClientStatementCache.maximumTextBytes else { return kind }
        cache.withLock { cache in
            if cache.count >= 4096 { cache.removeAll(keepingCapacity: true) }
            cache[sql] = kind
        }
        return kind
    }

    /// Whether the text plainly starts with a statement that writes, so that
    /// the request can go straight to the writer instead of being tried on a
    /// reader first. False when in doubt (a comment, a CTE): the reader finds
    /// out then.
    static func startsWithWrite(_ sql: String) -> Bool {
        var word: [UInt8] = []
        for byte in sql.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                if !word.isEmpty { return writingKeywords.contains(word) }
            case UInt8(ascii: "a")...UInt8(ascii: "z"):
                word.append(byte - 32)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                word.append(byte)
            default:
                return !word.isEmpty && writingKeywords.contains(word)
            }
            if word.count > 7 { return false }
        }
        return writingKeywords.contains(word)
    }

    private static let writingKeywords: Set<[UInt8]> = Set(
        ["INSERT", "REPLACE", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP"].map { Array($0.utf8) })

    /// Statements are sent again and again; tokenizing each once is enough.
    /// Long texts are not kept: 4096 of them would hold gigabytes.
    /// Keyed by Swift strings (NFC and NFD spellings meet): a kind never
    /// depends on how a name is spelled.
    private static let cache = Mutex<[String: Kind]>([:])

    static func classify(_ tokens: [SQLText.Token]) throws(P2PDBError) -> Kind {
        if let internalName = tokens.first(where: { names(anInternalTable: $0) }) {
            throw P2PDBError(
                .refused,
                "\(internalName.text) is an internal P2PDB table; read the log with `p2pdb log` or GET /v1/entries")
        }
        guard let first = tokens.first?.keyword else {
            throw P2PDBError(.invalidSQL, "empty statement")
        }
        switch first {
        case "SELECT", "VALUES", "WITH", "EXPLAIN":
            try refuseRollbackConflictClause(tokens)
            return first == "WITH" && mainVerb(tokens) == "DELETE" ? .delete : .plain
        case "INSERT", "REPLACE", "UPDATE", "DELETE":
            try refuseRollbackConflictClause(tokens)
            return first == "DELETE" ? .delete : .plain
        case "CREATE":
            return try classifyCreate(tokens)
        case "ALTER":
            guard tokens.count > 3, tokens[1].isKeyword("TABLE") else { return .plain }
            let action = tokens.dropFirst(3).first { $0.kind == .word && ["ADD", "RENAME", "DROP"].contains($0.keyword ?? "") }
            guard action?.keyword == "ADD" else {
                throw P2PDBError(
                    .refused,
                    "ALTER TABLE ... \(action?.text.uppercased() ?? "") is refused: replicated tables only grow; use ALTER TABLE ... ADD COLUMN")
            }
            for (keyword, reason) in refusedTableKeywords + refusedColumnKeywords where tokens.contains(where: { $0.isKeyword(keyword) }) {
                throw P2PDBError(.refused, reason)
            }
            return .alterTableAddColumn
        case "DROP":
            return .drop(try classifyDrop(tokens))
        case "PRAGMA":
            return try classifyPragma(tokens)
        case "BEGIN":
            return .begin
        case "COMMIT", "END":
            return .commit
        case "ROLLBACK", "SAVEPOINT", "RELEASE":
            throw P2PDBError(
                .refused,
                "\(first) is refused: each request runs as one transaction, and a request that fails changes nothing")
        case "ATTACH", "DETACH":
            throw P2PDBError(.refused, "\(first) is refused: a replica is one database file")
        case "VACUUM", "ANALYZE", "REINDEX":
            throw P2PDBError(.refused, "\(first) is refused: P2PDB manages the database file itself")
        default:
            throw P2PDBError(.invalidSQL, "unknown statement starting with \(tokens[0].text)")
        }
    }

    /// SQLite also takes a string literal where a table name is expected
    /// (`FROM '_p2pdb_rows'`, `pragma_table_info('_p2pdb_rows')`), so a
    /// string that is nothing but an internal name counts as one.
    private static func names(anInternalTable token: SQLText.Token) -> Bool {
        switch token.kind {
        case .word, .quotedIdentifier:
            return InternalSchema.isInternalP2PDB(token.text)
        case .string:
            return InternalSchema.isInternalP2PDB(token.text)
                && token.text.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
        default:
            return false
        }
    }

    private static func classifyCreate(_ tokens: [SQLText.Token]) throws(P2PDBError) -> Kind {
        var index = 1
        if index < tokens.count, tokens[index].isKeyword("TEMP") || tokens[index].isKeyword("TEMPORARY") {
            throw P2PDBError(.refused, "temporary tables, views and triggers are refused: every schema object is replicated; drop TEMP")
        }
        var unique = false
        if index < tokens.count, tokens[index].isKeyword("UNIQUE") {
            unique = true
            index += 1
        }
        guard index < tokens.count, let object = tokens[index].keyword else {
            throw P2PDBError(.invalidSQL, "incomplete CREATE statement")
        }
        switch object {
        case "TABLE":
            guard !unique else { throw P2PDBError(.invalidSQL, "CREATE UNIQUE must be followed by INDEX") }
            let body = tokens[(index + 1)...]
            if let asIndex = body.firstIndex(where: { $0.isKeyword("AS") }),
                body.prefix(upTo: asIndex).allSatisfy({ !$0.isPunctuation("(") })
            {
                throw P2PDBError(
                    .refused, "CREATE TABLE ... AS SELECT is refused: declare the columns and a PRIMARY KEY")
            }
            for (keyword, reason) in refusedTableKeywords where body.contains(where: { $0.isKeyword(keyword) }) {
                throw P2PDBError(.refused, reason)
            }
            return .createTable
        case "INDEX":
            guard !unique else {
                throw P2PDBError(
                    .refused,
                    "UNIQUE indexes are refused: uniqueness cannot hold across replicas that write while apart; create a plain index")
            }
            if tokens.contains(where: { $0.isKeyword("WHERE") }) {
                throw P2PDBError(.refused, "partial indexes (CREATE INDEX ... WHERE) are not replicated; index whole columns")
            }
            return .createIndex
        case "VIEW":
            return .createView
        case "TRIGGER":
            return .createTrigger
        case "VIRTUAL":
            throw P2PDBError(.refused, "virtual tables are refused: only ordinary tables can be replicated")
        default:
            throw P2PDBError(.invalidSQL, "unknown CREATE \(object)")
        }
    }

    private static let refusedTableKeywords: [(String, String)] = [
        ("UNIQUE", "UNIQUE constraints are refused: uniqueness cannot hold across replicas that write while apart; make the column the PRIMARY KEY, or use a plain index and check in the application"),
    ]

    /// SQLite adds these with ALTER TABLE only to empty-default columns;
    /// P2PDB takes them where the table is declared.
    private static let refusedColumnKeywords: [(String, String)] = [
        ("CHECK", "a CHECK constraint cannot be added with ALTER TABLE ... ADD COLUMN; declare it in CREATE TABLE, or add the column without it"),
        ("REFERENCES", "a FOREIGN KEY cannot be added with ALTER TABLE ... ADD COLUMN; declare it in CREATE TABLE, or add the column without it"),
    ]

    private static func classifyDrop(_ tokens: [SQLText.Token]) throws(P2PDBError) -> Drop {
        var tokens = tokens
        while tokens.last?.isPunctuation(";") == true { tokens.removeLast() }
        guard tokens.count > 2, let object = tokens[1].keyword, ["TABLE", "VIEW", "INDEX", "TRIGGER"].contains(object) else {
            throw P2PDBError(.invalidSQL, "DROP must be followed by TABLE, VIEW, INDEX or TRIGGER and a name")
        }
        var index = 2
        var ifExists = false
        if tokens.count > 4, tokens[2].isKeyword("IF"), tokens[3].isKeyword("EXISTS") {
            ifExists = true
            index = 4
        }
        if tokens.count > index + 2, tokens[index + 1].isPunctuation(".") {
            guard tokens[index].text.lowercased() == "main" else {
                throw P2PDBError(.refused, "DROP of objects outside the main database is refused: every object is replicated")
            }
            index += 2
        }
        guard index == tokens.count - 1, [.word, .quotedIdentifier, .string].contains(tokens[index].kind) else {
            throw P2PDBError(.invalidSQL, "DROP \(object) takes one name")
        }
        return Drop(object: object, name: tokens[index].text, ifExists: ifExists)
    }

    private static func refuseRollbackConflictClause(_ tokens: [SQLText.Token]) throws(P2PDBError) {
        for index in tokens.indices.dropLast() where tokens[index].isKeyword("OR") && tokens[index + 1].isKeyword("ROLLBACK") {
            throw P2PDBError(.refused, "OR ROLLBACK is refused: a failing statement already rolls its request back; use OR ABORT")
        }
    }

    private static func classifyPragma(_ tokens: [SQLText.Token]) throws(P2PDBError) -> Kind {
        var nameIndex = 1
        if tokens.count > 3, tokens[2].isPunctuation(".") { nameIndex = 3 }
        guard nameIndex < tokens.count, tokens[nameIndex].keyword != nil else {
            throw P2PDBError(.invalidSQL, "incomplete PRAGMA")
        }
        // Which pragmas a client may run is ClientAuthorizer's decision,
        // made while SQLite prepares the statement.
        return .plain
    }
}
