import GRDB
import P2PDBCore

/// Keeps a replica's physical views and triggers equal to the merged
/// schema's: drops those it no longer has (or has otherwise) and creates
/// those it lacks, comparing with what `sqlite_schema` holds, so that a
/// table rebuilt for a replay (which takes its triggers with it) gets its
/// triggers back too.
enum SchemaObjects {
    private struct Physical: Hashable {
        var type: String
        var key: IdentifierKey
    }

    /// Drops views that the merged schema no longer has or defines
    /// otherwise, before tables are created: a table may take a view's name.
    static func dropViews(_ db: Database, to schema: ReplicatedSchema) throws {
        let wanted = desired(schema)
        for (object, sql) in try existing(db) where object.type == "view" && !SQLText.sameText(wanted[object]?.sql, sql) {
            try db.execute(sql: "DROP VIEW IF EXISTS \(SQLText.quoteIdentifier(object.key.text))")
        }
    }

    /// Makes the views and triggers match the merged schema. A definition
    /// SQLite cannot create here (its text came from another replica) is
    /// left out on this replica; everything else still merges.
    static func synchronize(_ db: Database, to schema: ReplicatedSchema) throws {
        let wanted = desired(schema)
        var present = try existing(db)
        for (object, sql) in present.sorted(by: { ($0.key.type, $0.key.key) < ($1.key.type, $1.key.key) })
        where !SQLText.sameText(wanted[object]?.sql, sql) {
            try db.execute(sql: "DROP \(object.type.uppercased()) IF EXISTS \(SQLText.quoteIdentifier(object.key.text))")
            present[object] = nil
        }
        // Views first: an INSTEAD OF trigger needs its view.
        for type in ["view", "trigger"] {
            for (object, definition) in wanted.sorted(by: { $0.key.key < $1.key.key }) where object.type == type && present[object] == nil {
                do {
                    try db.makeStatement(sql: definition.sql).execute()
                } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
                    continue
                }
            }
        }
    }

    private static func desired(_ schema: ReplicatedSchema) -> [Physical: (name: String, sql: String)] {
        var objects: [Physical: (name: String, sql: String)] = [:]
        for view in schema.effectiveViews {
            objects[Physical(type: "view", key: SQLText.key(view.name))] = (view.name, view.sql)
        }
        for trigger in schema.effectiveTriggers {
            guard let sql = LocalWriteRules.physicalSQL(of: trigger) else { continue }
            objects[Physical(type: "trigger", key: SQLText.key(trigger.name))] = (trigger.name, sql)
        }
        return objects
    }

    private static func existing(_ db: Database) throws -> [Physical: String] {
        var objects: [Physical: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger')") {
            let name: String = row[1]
            guard !InternalSchema.isInternal(name) else { continue }
            objects[Physical(type: row[0], key: SQLText.key(name))] = row[2]
        }
        return objects
    }
}
