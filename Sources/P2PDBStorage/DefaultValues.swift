import GRDB
import P2PDBCore
import Synchronization

/// The value SQLite stores for a column's literal DEFAULT once the column's
/// affinity is applied (`DEFAULT '5'` in an INTEGER column stores 5).
///
/// A cell equal to this value is left out of its row's digest, so it must
/// be what SQLite really stores. SQLite computes it, in a scratch in-memory
/// database, once per column definition.
enum DefaultValues {
    private static let cache = Mutex<[String: Value]>([:])
    private static let scratch: DatabaseQueue? = try? DatabaseQueue()

    static func stored(for column: P2PDBCore.ColumnDefinition) -> Value {
        let literal = column.literalDefault
        guard !literal.isNull, let defaultSQL = column.defaultSQL else { return literal }
        let key = column.sql
        if let value = cache.withLock({ $0[key] }) { return value }
        var definition = column
        definition.name = "c"
        definition.notNull = false
        definition.defaultSQL = defaultSQL
        let value = (try? scratch?.write { db -> Value in
            try db.execute(sql: "CREATE TABLE probe (\(definition.sql))")
            defer { try? db.execute(sql: "DROP TABLE probe") }
            try db.execute(sql: "INSERT INTO probe DEFAULT VALUES")
            return try db.cachedStatement(sql: "SELECT c FROM probe").firstRowRaw([])?.first ?? literal
        }) ?? literal
        cache.withLock { $0[key] = value }
        return value
    }
}
