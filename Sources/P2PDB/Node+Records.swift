import Foundation

// MARK: Records

extension Node {
    /// Runs read-only SQL and decodes each row of its last query into
    /// `type`, by column name (see ``RowDecoder`` for the conversions).
    ///
    /// ```swift
    /// struct Item: Decodable {
    ///     var id: String
    ///     var name: String
    ///     var stock: Int
    /// }
    ///
    /// let low = try await node.query(Item.self, "SELECT * FROM items WHERE stock < ?", [5])
    /// let names = try await node.query(String.self, "SELECT name FROM items ORDER BY name")
    /// ```
    ///
    /// - Throws: ``P2PDBError``: `.invalidInput` when a row does not decode
    ///   (the message names the row, the column and what it holds), and
    ///   whatever ``query(_:_:)`` throws.
    public func query<Record: Decodable>(_ type: Record.Type, _ sql: String, _ parameters: [Value] = []) async throws -> [Record] {
        try (try await query(sql, parameters)).decode(type)
    }

    /// The first row of the last query, decoded into `type`; nil when it
    /// returns no row.
    ///
    /// ```swift
    /// let item = try await node.queryOne(Item.self, "SELECT * FROM items WHERE id = ?", ["apple"])
    /// let count = try await node.queryOne(Int.self, "SELECT count(*) FROM items")
    /// ```
    public func queryOne<Record: Decodable>(_ type: Record.Type, _ sql: String, _ parameters: [Value] = []) async throws -> Record? {
        let result = try await query(sql, parameters)
        guard let row = result.rows.first else { return nil }
        return try RowDecoder().decode(type, columns: result.columns, row: row)
    }

    /// Runs SQL as one transaction, its named parameters (`:name`) bound
    /// to the properties of `record` (see ``ValueEncoder`` for the
    /// conversions).
    ///
    /// ```swift
    /// struct Item: Codable {
    ///     var id: String
    ///     var name: String
    ///     var stock: Int
    /// }
    ///
    /// try await node.execute(
    ///     "INSERT INTO items(id, name, stock) VALUES (:id, :name, :stock)",
    ///     record: Item(id: "apple", name: "Apple", stock: 10))
    /// ```
    ///
    /// - Throws: ``P2PDBError`` `.invalidParameters` when the SQL names a
    ///   parameter the record has no property for; whatever
    ///   ``execute(_:_:)`` throws.
    @discardableResult
    public func execute<Record: Encodable>(_ sql: String, record: Record) async throws -> TransactionResult {
        try await store.execute([try SQLRequest(sql, record: record)])
    }
}

// MARK: Live queries

extension Node {
    /// A live query: its result now, then a new result each time a write
    /// changes a table it reads.
    ///
    /// ```swift
    /// let task = Task {
    ///     for try await result in node.observe("SELECT item, sum(qty) AS qty FROM sales GROUP BY item") {
    ///         render(result.rows)
    ///     }
    /// }
    /// …
    /// task.cancel()   // ends the observation
    /// ```
    ///
    /// What it promises:
    ///
    /// - **The current result first**, as ``query(_:_:)`` returns it.
    /// - **Every write counts, local or replicated.** Entries from peers
    ///   arrive through the same change feed as local commits
    ///   (``changes()``), after they are durable.
    /// - **Only writes that matter.** The query runs again only after a
    ///   commit that changes a table it reads: the tables SQLite reports
    ///   reading while it prepares the query, those read through views and
    ///   subqueries included. A write to any other table costs nothing. A
    ///   schema change runs it again in any case, and recomputes the tables.
    /// - **Bursts coalesce.** Commits that arrive while the query runs make
    ///   one more run after it, not one each; a consumer that falls behind
    ///   finds only the latest result waiting. The last result yielded is
    ///   always that of the last commit.
    /// - **No repeats**, unless `removingDuplicates` is false: a result
    ///   equal to the previous one is not yielded again (a write to a read
    ///   table that does not change this query's rows).
    ///
    /// The query runs on the replica's reader connections, never on the
    /// caller's task. The observation ends when the consuming task is
    /// cancelled or stops iterating (its subscription is released then),
    /// when the node closes, or with the first error: a query that fails,
    /// a result that does not decode.
    ///
    /// - Parameters:
    ///   - sql: read-only SQL; with several statements, the last query's
    ///     result is observed.
    ///   - parameters: its parameters, as for ``query(_:_:)``.
    ///   - removingDuplicates: skip results equal to the previous one.
    public func observe(
        _ sql: String, _ parameters: [Value] = [], removingDuplicates: Bool = true
    ) -> AsyncThrowingStream<StatementResult, any Error> {
        store.observe(SQLRequest(sql, parameters), removingDuplicates: removingDuplicates)
    }

    /// A live query whose rows are decoded into `type`, as
    /// ``query(_:_:_:)`` decodes them: see ``observe(_:_:removingDuplicates:)``.
    ///
    /// ```swift
    /// struct LowStock: Decodable, Sendable {
    ///     var id: String
    ///     var stock: Int
    /// }
    ///
    /// for try await items in node.observe(LowStock.self, "SELECT id, stock FROM items WHERE stock < ?", [5]) {
    ///     print(items.map(\.id))
    /// }
    /// ```
    ///
    /// A row that does not decode ends the observation with a
    /// ``P2PDBError`` (`.invalidInput`).
    public func observe<Record: Decodable & Sendable>(
        _ type: Record.Type, _ sql: String, _ parameters: [Value] = [], removingDuplicates: Bool = true
    ) -> AsyncThrowingStream<[Record], any Error> {
        store.observe(SQLRequest(sql, parameters), removingDuplicates: removingDuplicates) { try $0.decode(type) }
    }
}
