import P2PDBCore
import P2PDBTestSupport
import PropertyBased
import Testing

@Suite("Replicated schema merge")
struct SchemaMergeTests {
    let a = NodeID(Bytes32(word0: 1, word1: 0, word2: 0, word3: 0))
    let b = NodeID(Bytes32(word0: 2, word1: 0, word2: 0, word3: 0))

    func table(_ name: String, _ columns: [String], key: [String] = ["id"]) -> SchemaChange {
        .createTable(
            TableDefinition(
                name: name, columns: (key + columns).map { ColumnDefinition(name: $0, declaredType: "TEXT") }, primaryKey: key))
    }

    func origin(_ lamport: UInt64, _ author: NodeID, _ change: Int = 0) -> ReplicatedSchema.Origin {
        .init(stamp: Stamp(lamport: lamport, author: author), change: change)
    }

    @Test func concurrentColumnsAreOrderedTheSameEverywhere() {
        let create = (table("t", ["x"]), origin(1, a))
        let addA = (SchemaChange.addColumn(table: "t", column: ColumnDefinition(name: "fromA", declaredType: "INTEGER")), origin(2, a))
        let addB = (SchemaChange.addColumn(table: "t", column: ColumnDefinition(name: "fromB", declaredType: "TEXT")), origin(2, b))
        var first = ReplicatedSchema()
        var second = ReplicatedSchema()
        for (change, origin) in [create, addA, addB] { first.apply(change, origin: origin) }
        for (change, origin) in [create, addB, addA] { second.apply(change, origin: origin) }
        #expect(first == second)
        #expect(first.table(named: "t")?.columns.map(\.definition.name) == ["id", "x", "fromA", "fromB"])
    }

    @Test func firstDefinitionWinsForTablesAndColumns() {
        var schema = ReplicatedSchema()
        schema.apply(table("T", ["late"], key: ["k2"]), origin: origin(5, b))
        schema.apply(table("t", ["early"], key: ["k1"]), origin: origin(3, a))
        let merged = schema.table(named: "t")
        #expect(merged?.name == "t")
        #expect(merged?.primaryKey == ["k1"])
        #expect(merged?.columns.map(\.definition.name) == ["k1", "early", "k2", "late"])
    }

    @Test func columnAddedBeforeItsTableArrivesIsKept() {
        var schema = ReplicatedSchema()
        schema.apply(.addColumn(table: "t", column: ColumnDefinition(name: "extra", declaredType: "TEXT")), origin: origin(4, b))
        #expect(schema.table(named: "t") == nil)
        schema.apply(table("t", ["x"]), origin: origin(1, a))
        #expect(schema.table(named: "t")?.columns.map(\.definition.name) == ["id", "x", "extra"])
    }

    @Test func indexesNeedTheirTableAndColumns() {
        var schema = ReplicatedSchema()
        let index = SchemaChange.createIndex(IndexDefinition(name: "by_x", table: "t", columns: [.init(name: "x")]))
        schema.apply(index, origin: origin(2, a))
        #expect(schema.effectiveIndexes.isEmpty)
        schema.apply(table("t", ["x"]), origin: origin(1, a))
        #expect(schema.effectiveIndexes.map(\.name) == ["by_x"])
    }

    /// Creates and drops of views, triggers and indexes, in every order of
    /// arrival: the definition in force is the first one after the last
    /// drop that came before it, everywhere.
    @Test func dropsAndRecreatesAreIndependentOfOrder() {
        func view(_ body: String) -> SchemaChange {
            .createObject(SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE VIEW \"v\" AS SELECT \(body)"))
        }
        let trigger = SchemaChange.createObject(
            SchemaObjectDefinition(kind: .trigger, name: "g", table: "t", sql: "CREATE TRIGGER \"g\" AFTER INSERT ON t BEGIN SELECT 1; END"))
        let index = SchemaChange.createIndex(IndexDefinition(name: "i", table: "t", columns: [.init(name: "x")]))
        let changes: [(SchemaChange, ReplicatedSchema.Origin)] = [
            (table("t", ["x"]), origin(1, a)),
            (view("1"), origin(2, a)), (view("2"), origin(2, b)), (.dropObject(kind: .view, name: "V"), origin(3, b)),
            (view("3"), origin(4, a)), (view("4"), origin(5, b)),
            (trigger, origin(2, b)), (.dropObject(kind: .trigger, name: "g"), origin(3, a)),
            (index, origin(2, a)), (.dropObject(kind: .index, name: "i"), origin(3, a)), (index, origin(4, b)),
        ]
        var reference = ReplicatedSchema()
        for (change, origin) in changes { reference.apply(change, origin: origin) }
        #expect(reference.effectiveViews.map(\.sql) == ["CREATE VIEW \"v\" AS SELECT 3"])
        #expect(reference.effectiveTriggers.isEmpty)
        #expect(reference.effectiveIndexes.map(\.name) == ["i"])
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var schema = ReplicatedSchema()
            for (change, origin) in changes.shuffled(using: &generator) { schema.apply(change, origin: origin) }
            #expect(schema.effectiveViews == reference.effectiveViews)
            #expect(schema.effectiveTriggers == reference.effectiveTriggers)
            #expect(schema.effectiveIndexes == reference.effectiveIndexes)
            #expect(schema.digest == reference.digest)
        }
    }

    @Test func aTableTakesAViewsNameAndAViewAnIndexs() {
        var schema = ReplicatedSchema()
        schema.apply(.createObject(SchemaObjectDefinition(kind: .view, name: "x", sql: "CREATE VIEW \"x\" AS SELECT 1")), origin: origin(1, a))
        schema.apply(.createIndex(IndexDefinition(name: "x", table: "t", columns: [.init(name: "y")])), origin: origin(1, b))
        schema.apply(table("t", ["y"]), origin: origin(2, a))
        #expect(schema.effectiveViews.map(\.name) == ["x"])
        #expect(schema.effectiveIndexes.isEmpty)
        schema.apply(table("X", ["z"]), origin: origin(3, b))
        #expect(schema.effectiveViews.isEmpty)
    }

    @Test func mergeIsIndependentOfOrder() async {
        let changes: [(SchemaChange, ReplicatedSchema.Origin)] = [
            (table("t", ["x"]), origin(1, a)),
            (table("t", ["y"], key: ["other"]), origin(1, b)),
            (.addColumn(table: "t", column: ColumnDefinition(name: "z", declaredType: "REAL")), origin(2, a)),
            (.addColumn(table: "t", column: ColumnDefinition(name: "z", declaredType: "BLOB")), origin(2, b)),
            (.createIndex(IndexDefinition(name: "i", table: "t", columns: [.init(name: "z")])), origin(3, a)),
            (.createIndex(IndexDefinition(name: "i", table: "t", columns: [.init(name: "x")])), origin(3, b)),
            (table("u", ["w"]), origin(4, b)),
        ]
        var reference = ReplicatedSchema()
        for (change, origin) in changes { reference.apply(change, origin: origin) }
        await propertyCheck(input: Gen.int(in: 0...Int.max)) { (seed: Int) in
            var generator = SplitMix(seed: UInt64(seed))
            var schema = ReplicatedSchema()
            for (change, origin) in changes.shuffled(using: &generator) { schema.apply(change, origin: origin) }
            #expect(schema == reference)
            #expect(schema.digest == reference.digest)
        }
    }

    @Test func generatedDDLIsCanonical() {
        var schema = ReplicatedSchema()
        schema.apply(
            .createTable(
                TableDefinition(
                    name: "items",
                    columns: [
                        ColumnDefinition(name: "id", declaredType: "INTEGER"),
                        ColumnDefinition(name: "stock", declaredType: "COUNTER INTEGER", notNull: true, defaultSQL: "0"),
                        ColumnDefinition(name: "name", declaredType: "TEXT", collation: "NOCASE"),
                    ],
                    primaryKey: ["id"], withoutRowID: false, strict: true)),
            origin: origin(1, a))
        // STRICT tables know no COUNTER type: such a column (from another
        // replica's definition) is created as ANY, so the table still can be.
        #expect(
            schema.table(named: "items")?.createSQL
                == "CREATE TABLE \"items\" (\"id\" INTEGER, \"stock\" ANY NOT NULL DEFAULT 0, \"name\" TEXT COLLATE \"NOCASE\", PRIMARY KEY (\"id\")) STRICT")
    }
}

/// A small seeded generator for shuffles in tests.
typealias SplitMix = SeededGenerator
