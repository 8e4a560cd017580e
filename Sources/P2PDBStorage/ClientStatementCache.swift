import GRDB

/// The client statements one connection keeps prepared, least recently
/// used first out.
///
/// Most requests send one text again and again with new parameters, and
/// preparing it once saves most of a point query's cost. A cache without
/// bounds would keep every distinct text a client ever sent (forty 7 MB
/// statements took 1.4 GB), so it keeps a fixed number of statements and
/// never keeps long texts, which are one-off loads and migrations anyway.
/// Texts are keyed by their bytes: Swift's `==` takes the NFC and NFD
/// spellings of `"café"` for one text, SQLite two tables.
///
/// Used on its connection's thread only, like the connection.
final class ClientStatementCache: @unchecked Sendable {
    /// Statements kept per connection.
    static let capacity = 64
    /// Longer texts are prepared each time.
    static let maximumTextBytes = 4096

    private struct Kept {
        let statement: Statement
        var lastUse: UInt64
    }

    private var kept: [[UInt8]: Kept] = [:]
    private var uses: UInt64 = 0

    /// The statement for `sql`, prepared now if it is not kept.
    func statement(_ sql: String, _ db: Database) throws -> Statement {
        guard sql.utf8.count <= Self.maximumTextBytes else { return try db.makeStatement(sql: sql) }
        let key = Array(sql.utf8)
        uses &+= 1
        if let found = kept[key] {
            kept[key]?.lastUse = uses
            return found.statement
        }
        let statement = try db.makeStatement(sql: sql)
        if kept.count >= Self.capacity, let oldest = kept.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            kept[oldest] = nil
        }
        kept[key] = Kept(statement: statement, lastUse: uses)
        return statement
    }

    /// Finalizes every kept statement: SQLite closes no connection with
    /// statements still prepared.
    func clear() {
        kept.removeAll()
    }
}
