import GRDB
import P2PDBCore
import Synchronization

/// What SQLite stores: the one canonical form of every value P2PDB keeps,
/// hashes, compares and sends.
///
/// A value's canonical form in a column is what a SELECT of that column
/// returns after the value was written to it: `2` written to a REAL column
/// is the real `2.0`, `'5'` written to an INTEGER column is the integer `5`.
/// The local write path, the merge of other replicas' entries and `verify`
/// all put values through ``stored(_:affinity:)`` (or read them back from
/// SQLite), so they agree bit for bit.
///
/// Most conversions follow from SQLite's documented affinity rules
/// (``ColumnAffinity/storedForm(of:)``). The rest (text that may read as a
/// number, a real turned into text) are left to SQLite itself, in a
/// private in-memory database.
enum StoredValues {
    /// The value SQLite stores for `value` in a column of `affinity`.
    static func stored(_ value: Value, affinity: ColumnAffinity) -> Value {
        if let converted = affinity.storedForm(of: value) { return converted }
        return convertedBySQLite(value, affinity: affinity) ?? value
    }

    /// What SQLite stores for a column's DEFAULT when a row leaves the
    /// column out, or nil if that cannot be known without a row (an
    /// expression such as `CURRENT_TIMESTAMP`) or SQLite refuses it.
    static func storedDefault(of column: P2PDBCore.ColumnDefinition, strict: Bool) -> Value? {
        guard let defaultSQL = column.defaultSQL else { return .null }
        guard SQLText.isLiteral(default: defaultSQL) else { return nil }
        var definition = column
        definition.name = "c"
        definition.notNull = false
        let key = Array((definition.sql + (strict ? " strict" : "")).utf8)
        if let cached = defaults.withLock({ $0[key] }) { return cached }
        let value = probe { db -> Value? in
            try db.execute(sql: "CREATE TABLE probe (\(definition.sql))" + (strict ? " STRICT" : ""))
            defer { try? db.execute(sql: "DROP TABLE probe") }
            try db.execute(sql: "INSERT INTO probe DEFAULT VALUES")
            return try db.makeStatement(sql: "SELECT c FROM probe").firstRowRaw([])?.first
        } ?? nil
        defaults.withLock { $0[key] = value }
        return value
    }

    /// Whether rows that existed before `ALTER TABLE ... ADD COLUMN` read
    /// the column's DEFAULT as the value a row inserted later stores (NULL
    /// when no row could store it). They do, but for some literals: SQLite
    /// 3.40 reads `0x7fffffffffffffff` as text in the older rows and as an
    /// integer in the newer ones, and `DEFAULT ''` of a STRICT REAL column
    /// as text in the older rows where no newer row can be inserted.
    static func defaultIsReadAlike(_ column: P2PDBCore.ColumnDefinition, strict: Bool) -> Bool {
        guard let defaultSQL = column.defaultSQL, SQLText.isLiteral(default: defaultSQL) else { return true }
        let stored = storedDefault(of: column, strict: strict) ?? .null
        var definition = column
        definition.name = "c"
        definition.notNull = false
        let key = Array(("alike " + definition.sql + (strict ? " strict" : "")).utf8)
        if let cached = alike.withLock({ $0[key] }) { return cached }
        let older = probe { db -> Value? in
            try db.execute(sql: "CREATE TABLE probe (k INTEGER PRIMARY KEY)" + (strict ? " STRICT" : ""))
            defer { try? db.execute(sql: "DROP TABLE probe") }
            try db.execute(sql: "INSERT INTO probe VALUES (1)")
            try db.execute(sql: "ALTER TABLE probe ADD COLUMN \(definition.sql)")
            return try db.makeStatement(sql: "SELECT c FROM probe").firstRowRaw([])?.last
        } ?? nil
        let result = older == stored
        alike.withLock { $0[key] = result }
        return result
    }

    /// Why SQLite would refuse to create a column of this definition, or
    /// nil if it creates it. Another replica's schema change is checked with
    /// this before it is accepted, so that creating its table can never
    /// fail here.
    static func problem(creating column: P2PDBCore.ColumnDefinition) -> String? {
        var definition = column
        definition.name = "c"
        let key = Array(definition.sql.utf8)
        if let cached = problems.withLock({ $0[key] }) { return cached }
        var problem: String?
        do {
            guard let scratch else { return nil }
            try scratch.inDatabase { db in
                try db.execute(sql: "CREATE TABLE probe (\(definition.sql))")
                try db.execute(sql: "DROP TABLE probe")
            }
        } catch let error as DatabaseError {
            problem = error.message ?? "\(error)"
        } catch {
            problem = "\(error)"
        }
        problems.withLock { $0[key] = problem }
        return problem
    }

    private static let scratch: DatabaseQueue? = try? DatabaseQueue()
    /// Keyed by the bytes of the definition: `DEFAULT 'café'` in NFC and in
    /// NFD are two defaults.
    private static let defaults = Mutex<[[UInt8]: Value?]>([:])
    private static let problems = Mutex<[[UInt8]: String?]>([:])
    private static let alike = Mutex<[[UInt8]: Bool]>([:])

    private static func probe<T>(_ body: (Database) throws -> T) -> T? {
        guard let scratch else { return nil }
        return try? scratch.inDatabase { db in
            do {
                try db.execute(sql: "SAVEPOINT probe")
                let result = try body(db)
                try db.execute(sql: "RELEASE probe")
                return result
            } catch {
                try? db.execute(sql: "ROLLBACK TO probe; RELEASE probe")
                throw error
            }
        }
    }

    private static func convertedBySQLite(_ value: Value, affinity: ColumnAffinity) -> Value? {
        let column: String
        switch affinity {
        case .integer: column = "i"
        case .numeric: column = "n"
        case .real: column = "r"
        case .text: column = "t"
        case .blob: column = "b"
        }
        return probe { db -> Value? in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS convert (i INTEGER, n NUMERIC, r REAL, t TEXT, b BLOB)")
            try db.makeStatement(sql: "INSERT INTO convert (rowid, \(column)) VALUES (1, ?)").runRaw([value])
            defer { try? db.execute(sql: "DELETE FROM convert") }
            return try db.makeStatement(sql: "SELECT \(column) FROM convert").firstRowRaw([])?.first
        } ?? nil
    }
}
