import P2PDBCore

extension SQLRequest {
    /// A request whose named parameters (`:name`, `@name`, `$name`) take
    /// the columns of `record`, encoded by ``ValueEncoder``.
    ///
    /// ```swift
    /// struct Sale: Codable {
    ///     var id: String
    ///     var item: String
    ///     var qty: Int
    ///     var at: Date
    /// }
    ///
    /// let insert = try SQLRequest("INSERT INTO sales(id, item, qty, at) VALUES (:id, :item, :qty, :at)", record: sale)
    /// let restock = SQLRequest("UPDATE items SET stock = stock - ? WHERE id = ?", [.integer(Int64(sale.qty)), .text(sale.item)])
    /// try await node.transaction([insert, restock])
    /// ```
    ///
    /// A name may appear several times, and in several statements of the
    /// text; a property the SQL does not name is ignored. Names match the
    /// coding keys exactly (`:itemID` is not `:itemid`).
    ///
    /// - Throws: ``P2PDBError`` `.invalidParameters` if the SQL names a
    ///   parameter the record lacks, or uses `?` parameters; the record's
    ///   encoding errors.
    public init<Record: Encodable>(_ sql: String, record: Record) throws(P2PDBError) {
        let columns = try ValueEncoder().encodeRecord(record)
        var byName: [String: Value] = [:]
        for (column, value) in columns { byName[column] = value }
        self.init(sql, try Self.positional(sql, byName, Record.self))
    }

    /// The values of the text's parameters, statement by statement, in the
    /// order SQLite numbers them: each statement's first use of a name
    /// takes the next number, a later use the same.
    private static func positional(_ sql: String, _ byName: [String: Value], _ type: Any.Type) throws(P2PDBError) -> [Value] {
        guard let tokens = SQLText.tokenize(sql) else {
            throw P2PDBError(.invalidSQL, "unterminated string, identifier or comment in SQL")
        }
        var values: [Value] = []
        // This statement's names so far, as written (`:id` and `@id` are two).
        var numbered: [String] = []
        for token in tokens {
            if token.isPunctuation(";") {
                numbered.removeAll()
                continue
            }
            guard token.kind == .parameter else { continue }
            guard token.text.count > 1, !token.text.hasPrefix("?") else {
                throw P2PDBError(
                    .invalidParameters,
                    "\(token.text) is a positional parameter; with a record, name each parameter after a property (:\(byName.keys.sorted().first ?? "name"))")
            }
            let name = String(token.text.dropFirst())
            if numbered.contains(where: { $0.utf8.elementsEqual(token.text.utf8) }) { continue }
            guard let value = byName[name] else {
                throw P2PDBError(
                    .invalidParameters,
                    "the SQL names the parameter \(token.text), and \(type) has no property \(name) (it has \(byName.keys.sorted().joined(separator: ", ")))")
            }
            numbered.append(token.text)
            values.append(value)
        }
        return values
    }
}
