import P2PDB

/// Draws a case's script: the schema (tables created on one replica, or
/// concurrently on several with conflicting definitions), then
/// transactions on random replicas interleaved with partial deliveries,
/// then full delivery between every pair.
///
/// It keeps a rough model of which tables each replica knows, so that most
/// statements name tables and columns that exist there; where the model is
/// wrong, the statement fails, which is part of the surface too.
struct ScriptGenerator {
    private var random: CaseRandom
    private let writers: Int
    private let differential: Bool
    private var statementsLeft: Int
    /// What each writer believes its tables are, by SurfaceNames.key of the name.
    private var knowledge: [[[UInt8]: TableDesign]]
    private var steps: [SurfaceScript.Step] = []

    init(random: CaseRandom, writers: Int, statements: Int) {
        self.random = random
        self.writers = writers
        differential = writers == 1
        statementsLeft = statements
        knowledge = Array(repeating: [:], count: writers)
    }

    mutating func generate() -> SurfaceScript {
        createSchema()
        while statementsLeft > 0 {
            if writers > 1, random.chance(0.25) {
                deliver(from: random.below(writers), to: random.below(writers), everything: random.chance(0.3))
            } else {
                transaction(on: random.below(writers))
            }
        }
        var script = SurfaceScript(writers: writers, differential: differential, steps: steps, finale: deliverEverything())
        script.sharedKey = writers > 2 && random.chance(0.05)
        return script
    }

    // MARK: Schema

    private mutating func createSchema() {
        var names: [String] = []
        for _ in 0..<random.int(in: 1...3) {
            let name = random.pick(SurfaceNames.tables)
            if !names.contains(where: { SurfaceNames.key($0) == SurfaceNames.key(name) }) { names.append(name) }
        }
        var designs: [TableDesign] = []
        for name in names {
            var design = SchemaGenerator.table(named: name, &random)
            if let parent = designs.last, random.chance(0.35) {
                SchemaGenerator.addForeignKey(to: &design, parent: random.chance(0.8) ? parent : random.pick(designs), &random)
            } else if random.chance(0.02) {
                SchemaGenerator.addForeignKey(to: &design, parent: SchemaGenerator.missingParent, &random)
            }
            designs.append(design)
            if writers > 1, random.chance(0.35) {
                createConcurrently(design)
            } else {
                let creator = random.below(writers)
                create(design, on: creator)
                if random.chance(0.7) {
                    for target in 0..<writers where target != creator { deliver(from: creator, to: target, everything: true) }
                }
            }
        }
        if random.chance(0.3) {
            let replica = random.below(writers)
            record([trigger(on: replica)], on: replica)
        }
        // The same name in the other Unicode normalisation, elsewhere.
        if writers > 1, random.chance(0.1) {
            let twin = random.chance(0.5) ? SurfaceValues.nfc : SurfaceValues.nfd
            let other = twin == SurfaceValues.nfc ? SurfaceValues.nfd : SurfaceValues.nfc
            create(SchemaGenerator.table(named: twin, &random), on: 0)
            create(SchemaGenerator.table(named: other, &random), on: 1)
        }
    }

    /// The same table created on several writers before they meet, most
    /// with another definition, some with rows written at once.
    private mutating func createConcurrently(_ design: TableDesign) {
        let creators = Array((0..<writers).shuffled(using: &random).prefix(random.int(in: 2...min(3, writers))))
        for (position, creator) in creators.enumerated() {
            let definition = position == 0 ? design : SchemaGenerator.variant(of: design, &random)
            create(definition, on: creator)
        }
    }

    /// CREATE TABLE, mostly alone (a failing insert beside it would undo
    /// it), then maybe rows and an index.
    private mutating func create(_ design: TableDesign, on replica: Int) {
        var statements = [ScriptStatement(sql: design.createSQL(&random))]
        if random.chance(0.8) {
            record(statements, on: replica)
            statements = []
        }
        if random.chance(0.5) {
            for _ in 0..<random.int(in: 1...2) { statements.append(StatementGenerator.statement(for: design, keysLeftToSQLite: !differential, &random)) }
        }
        if random.chance(0.3) { statements.append(ScriptStatement(sql: SchemaGenerator.index(on: design, &random))) }
        learn(design, on: replica)
        if !statements.isEmpty { record(statements, on: replica) }
    }

    private mutating func learn(_ design: TableDesign, on replica: Int) {
        let key = SurfaceNames.key(design.name)
        guard var known = knowledge[replica][key] else {
            knowledge[replica][key] = design
            return
        }
        for column in design.columns where known.column(column.name) == nil { known.columns.append(column) }
        knowledge[replica][key] = known
    }

    // MARK: Workload

    private mutating func transaction(on replica: Int) {
        let count = random.chance(0.6) ? 1 : random.int(in: 2...4)
        var statements: [ScriptStatement] = []
        for _ in 0..<count { statements.append(statement(on: replica)) }
        record(statements, on: replica)
    }

    private mutating func statement(on replica: Int) -> ScriptStatement {
        let tables = knowledge[replica].keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { knowledge[replica][$0] }
        guard !tables.isEmpty else {
            let design = SchemaGenerator.table(named: random.pick(SurfaceNames.tables), &random)
            learn(design, on: replica)
            return ScriptStatement(sql: design.createSQL(&random))
        }
        let table = random.pick(tables)
        switch random.below(100) {
        case 0..<4:
            let added = SchemaGenerator.addColumn(to: table, &random)
            var changed = table
            if changed.column(added.column.name) == nil { changed.columns.append(added.column) }
            knowledge[replica][SurfaceNames.key(table.name)] = changed
            return ScriptStatement(sql: added.sql)
        case 4..<6:
            return ScriptStatement(sql: SchemaGenerator.index(on: table, &random))
        case 6:
            let design = SchemaGenerator.table(named: random.pick(SurfaceNames.tables), &random)
            if knowledge[replica][SurfaceNames.key(design.name)] == nil { learn(design, on: replica) }
            return ScriptStatement(sql: design.createSQL(&random))
        case 7, 8:
            return ScriptStatement(sql: SchemaGenerator.refused(table, &random))
        case 9:
            return ScriptStatement(sql: SchemaGenerator.view(over: table, &random))
        case 10, 11:
            return trigger(on: replica)
        default:
            return StatementGenerator.statement(for: table, keysLeftToSQLite: !differential, &random)
        }
    }

    /// A trigger (or its drop) on a table the replica knows, writing tables
    /// it knows.
    private mutating func trigger(on replica: Int) -> ScriptStatement {
        let tables = knowledge[replica].keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { knowledge[replica][$0] }
        guard let table = tables.isEmpty ? nil : random.pick(tables) else { return ScriptStatement(sql: "DROP TRIGGER IF EXISTS \"tr\"") }
        return ScriptStatement(sql: SchemaGenerator.trigger(on: table, tables: tables, deterministic: differential, &random))
    }

    /// Appends one transaction: each statement its own request, or all in
    /// one text; sometimes between BEGIN and COMMIT.
    private mutating func record(_ statements: [ScriptStatement], on replica: Int) {
        statementsLeft -= statements.count
        var requests: [[ScriptStatement]] = random.chance(0.5) ? statements.map { [$0] } : [statements]
        if random.chance(0.1) {
            requests.insert([ScriptStatement(sql: "BEGIN", role: .begin)], at: 0)
            requests.append([ScriptStatement(sql: random.pick(["COMMIT", "END"]), role: .commit)])
        }
        steps.append(.transaction(replica: replica, requests: requests))
    }

    // MARK: Deliveries

    private mutating func deliver(from source: Int, to target: Int, everything: Bool) {
        guard source != target else { return }
        let mode = random.pick(Delivery.Mode.allCases)
        steps.append(.delivery(Delivery(from: source, to: target, mode: mode, everything: everything, stream: random.split())))
        // The target now knows the source's tables (roughly: a part of the
        // entries may not have carried them).
        for design in knowledge[source].values.sorted(by: { SurfaceNames.key($0.name).lexicographicallyPrecedes(SurfaceNames.key($1.name)) }) {
            learn(design, on: target)
        }
    }

    /// Every replica's entries to one of them, then its to every other:
    /// everyone holds everything. Plus one more delivery between two others,
    /// so that the last word is not always the hub's.
    private mutating func deliverEverything() -> [Delivery] {
        let replicas = differential ? 2 : writers
        let order = (0..<replicas).shuffled(using: &random)
        guard let hub = order.last else { return [] }
        var deliveries: [Delivery] = []
        func everything(from source: Int, to target: Int) -> Delivery {
            Delivery(from: source, to: target, mode: random.pick(Delivery.Mode.allCases), everything: true, stream: random.split())
        }
        for source in order.dropLast() { deliveries.append(everything(from: source, to: hub)) }
        for target in order.dropLast() { deliveries.append(everything(from: hub, to: target)) }
        if replicas > 2 {
            let pair = order.dropLast().shuffled(using: &random)
            deliveries.append(everything(from: pair[0], to: pair[1]))
        }
        return deliveries
    }
}
