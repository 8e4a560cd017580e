/// The canonical binary encoding of entries, format versions 1 to 3
/// (version 2 adds CHECK and FOREIGN KEY constraints, views, triggers and
/// drops to the schema changes; version 3 adds membership changes).
///
/// The layout is specified in docs/FORMATS.md. Decoding is strict: every
/// structural rule that makes the encoding canonical (sorted parents, minimal
/// varints, sorted column references, consistent causal lengths) is checked,
/// so one entry has exactly one encoding and therefore one ID.
public enum EntryCodec {
    public static let magic: [UInt8] = Array("P2E".utf8)
    public static let signatureSize = 64
    /// Entries larger than this are refused before decoding.
    public static let maximumSize = 64 << 20
    public static let maximumParents = 4096
    /// The largest sequence number, Lamport clock or causal length an entry
    /// may carry. Far beyond any honest history, and low enough that every
    /// such number, and the next one, fits SQLite's signed 64-bit integers.
    public static let maximumCounter: UInt64 = 1 << 62

    struct Decoded {
        var author: NodeID
        var seq: UInt64
        var lamport: UInt64
        var parents: [EntryID]
        var wallTime: Int64
        var payload: EntryPayload
        var signature: [UInt8]
    }

    static func encodeUnsigned(
        author: NodeID, seq: UInt64, lamport: UInt64, parents: [EntryID], wallTime: Int64, payload: EntryPayload
    ) -> ByteWriter {
        var writer = ByteWriter(capacity: 128 + payload.tableChanges.reduce(0) { $0 + $1.rows.count * 32 })
        writer.writeBytes(magic)
        writer.writeByte(version(of: payload))
        writer.writeBytes32(author.raw)
        writer.writeVarint(seq)
        writer.writeVarint(lamport)
        writer.writeSignedVarint(wallTime)
        writer.writeVarint(parents.count)
        for parent in parents { writer.writeBytes32(parent.raw) }
        writer.writeVarint(payload.schemaChanges.count)
        for change in payload.schemaChanges { encode(change, into: &writer) }
        writer.writeVarint(payload.tableChanges.count)
        for changes in payload.tableChanges { encode(changes, into: &writer) }
        if !payload.membership.isEmpty {
            writer.writeVarint(payload.membership.count)
            for change in payload.membership { encode(change, into: &writer) }
        }
        return writer
    }

    static func decode(_ bytes: [UInt8]) throws(FormatError) -> Decoded {
        guard bytes.count <= maximumSize else { throw .malformed("entry is larger than \(maximumSize) bytes") }
        guard bytes.count >= magic.count + 1 + signatureSize else { throw .truncated }
        var reader = ByteReader(bytes, end: bytes.count - signatureSize)
        guard Array(try reader.readBytes(magic.count)) == magic else { throw .malformed("not a P2PDB entry") }
        let version = try reader.readByte()
        guard (1...Entry.formatVersion).contains(version) else { throw .unsupportedVersion(version) }
        let author = NodeID(try reader.readBytes32())
        let seq = try reader.readVarint()
        let lamport = try reader.readVarint()
        guard seq >= 1, lamport >= 1 else { throw .malformed("sequence number and Lamport clock start at 1") }
        guard seq <= maximumCounter, lamport <= maximumCounter else {
            throw .malformed("sequence number or Lamport clock is above 2^62")
        }
        let wallTime = try reader.readSignedVarint()
        let parentCount = try reader.readCount(minimumItemSize: Bytes32.byteCount)
        guard parentCount <= maximumParents else { throw .malformed("more than \(maximumParents) parents") }
        var parents: [EntryID] = []
        parents.reserveCapacity(parentCount)
        for _ in 0..<parentCount {
            let parent = EntryID(try reader.readBytes32())
            if let last = parents.last, !(last < parent) { throw .malformed("parents are not sorted and unique") }
            parents.append(parent)
        }
        let schemaCount = try reader.readCount()
        var schemaChanges: [SchemaChange] = []
        for _ in 0..<schemaCount { schemaChanges.append(try decodeSchemaChange(&reader)) }
        // One entry, one encoding: the version is the oldest that carries it.
        // Version 3 marks membership changes (checked below), whatever the schema changes need.
        guard version == 3 || version == schemaVersion(schemaChanges) else {
            throw .malformed("format version \(version) does not match the entry's schema changes")
        }
        let tableCount = try reader.readCount()
        var tableChanges: [TableChanges] = []
        var tableKeys = Set<IdentifierKey>()
        for _ in 0..<tableCount {
            let changes = try decodeTableChanges(&reader)
            guard tableKeys.insert(SQLText.key(changes.table)).inserted else {
                throw .malformed("table \(changes.table) appears twice")
            }
            tableChanges.append(changes)
        }
        var membership: [MembershipChange] = []
        if version >= 3 {
            let count = try reader.readCount()
            guard count > 0 else { throw .malformed("format version 3 without membership changes") }
            for _ in 0..<count { membership.append(try decodeMembershipChange(&reader)) }
        }
        try reader.requireEnd()
        return Decoded(
            author: author, seq: seq, lamport: lamport, parents: parents, wallTime: wallTime,
            payload: EntryPayload(schemaChanges: schemaChanges, tableChanges: tableChanges, membership: membership),
            signature: Array(bytes[(bytes.count - signatureSize)...]))
    }

    /// The oldest format version that can carry the payload.
    public static func version(of payload: EntryPayload) -> UInt8 {
        payload.membership.isEmpty ? schemaVersion(payload.schemaChanges) : 3
    }

    private static func schemaVersion(_ changes: [SchemaChange]) -> UInt8 {
        let needsVersion2 = changes.contains { change in
            switch change {
            case .createTable(let table): return !table.checks.isEmpty || !table.foreignKeys.isEmpty
            case .createObject, .dropObject: return true
            case .addColumn, .createIndex: return false
            }
        }
        return needsVersion2 ? 2 : 1
    }

    // MARK: Membership changes

    private enum MembershipTag: UInt8 {
        case credential = 1
        case grant = 2
        case revoke = 3
        case restrict = 4
    }

    static func encode(_ change: MembershipChange, into writer: inout ByteWriter) {
        switch change {
        case .credential(let credential):
            writer.writeByte(MembershipTag.credential.rawValue)
            writer.writeLengthPrefixed(credential.bytes)
        case .grant(let node, let role):
            writer.writeByte(MembershipTag.grant.rawValue)
            writer.writeBytes32(node.raw)
            writer.writeByte(role.rawValue)
        case .revoke(let node):
            writer.writeByte(MembershipTag.revoke.rawValue)
            writer.writeBytes32(node.raw)
        case .restrict(let table, let rule):
            writer.writeByte(MembershipTag.restrict.rawValue)
            writer.writeString(table)
            writer.writeByte(rule.minimumRole.rawValue)
            writer.writeVarint(rule.nodes.count)
            for node in rule.nodes { writer.writeBytes32(node.raw) }
        }
    }

    static func decodeMembershipChange(_ reader: inout ByteReader) throws(FormatError) -> MembershipChange {
        let tag = try reader.readByte()
        switch MembershipTag(rawValue: tag) {
        case .credential: return .credential(try Credential(bytes: try reader.readLengthPrefixed()))
        case .grant:
            let node = NodeID(try reader.readBytes32())
            let roleByte = try reader.readByte()
            guard let role = NetworkRole(rawValue: roleByte) else { throw .malformed("unknown role \(roleByte)") }
            return .grant(node: node, role: role)
        case .revoke: return .revoke(node: NodeID(try reader.readBytes32()))
        case .restrict:
            let table = try readIdentifier(&reader)
            let roleByte = try reader.readByte()
            guard let role = NetworkRole(rawValue: roleByte), role.mayWrite else { throw .malformed("a table rule's role must be writer or admin") }
            let count = try reader.readCount(minimumItemSize: 32)
            var nodes: [NodeID] = []
            for _ in 0..<count {
                let node = NodeID(try reader.readBytes32())
                if let last = nodes.last, !(last < node) { throw .malformed("a table rule's nodes are not sorted and unique") }
                nodes.append(node)
            }
            return .restrict(table: table, rule: TableRule(minimumRole: role, nodes: nodes))
        case nil: throw .malformed("unknown membership change \(tag) (written by a newer version?)")
        }
    }

    // MARK: Schema changes

    private enum SchemaTag: UInt8 {
        case createTable = 1
        case addColumn = 2
        case createIndex = 3
        case createObject = 4
        case dropObject = 5
    }

    private static let foreignKeyActions = ForeignKeyConstraint.Action.allCases

    public static func encode(_ change: SchemaChange, into writer: inout ByteWriter) {
        switch change {
        case .createTable(let table):
            writer.writeByte(SchemaTag.createTable.rawValue)
            writer.writeString(table.name)
            let constrained = !table.checks.isEmpty || !table.foreignKeys.isEmpty
            writer.writeByte((table.withoutRowID ? 1 : 0) | (table.strict ? 2 : 0) | (constrained ? 4 : 0))
            writer.writeVarint(table.columns.count)
            for column in table.columns { encode(column, into: &writer) }
            writer.writeVarint(table.primaryKey.count)
            for name in table.primaryKey { writer.writeString(name) }
            if constrained {
                writer.writeVarint(table.checks.count)
                for check in table.checks {
                    writer.writeString(check.name ?? "")
                    writer.writeString(check.expression)
                }
                writer.writeVarint(table.foreignKeys.count)
                for key in table.foreignKeys { encode(key, into: &writer) }
            }
        case .addColumn(let table, let column):
            writer.writeByte(SchemaTag.addColumn.rawValue)
            writer.writeString(table)
            encode(column, into: &writer)
        case .createIndex(let index):
            writer.writeByte(SchemaTag.createIndex.rawValue)
            writer.writeString(index.name)
            writer.writeString(index.table)
            writer.writeVarint(index.columns.count)
            for column in index.columns {
                writer.writeString(column.name)
                writer.writeByte(column.descending ? 1 : 0)
            }
        case .createObject(let object):
            writer.writeByte(SchemaTag.createObject.rawValue)
            writer.writeByte(object.kind.rawValue)
            writer.writeString(object.name)
            writer.writeString(object.table)
            writer.writeString(object.sql)
        case .dropObject(let kind, let name):
            writer.writeByte(SchemaTag.dropObject.rawValue)
            writer.writeByte(kind.rawValue)
            writer.writeString(name)
        }
    }

    private static func encode(_ key: ForeignKeyConstraint, into writer: inout ByteWriter) {
        writer.writeVarint(key.columns.count)
        for column in key.columns { writer.writeString(column) }
        writer.writeString(key.parentTable)
        writer.writeVarint(key.parentColumns.count)
        for column in key.parentColumns { writer.writeString(column) }
        let onDelete = foreignKeyActions.firstIndex(of: key.onDelete) ?? 0
        let onUpdate = foreignKeyActions.firstIndex(of: key.onUpdate) ?? 0
        writer.writeByte(UInt8(onDelete) | UInt8(onUpdate) << 3 | (key.deferred ? 64 : 0))
    }

    static func encode(_ column: ColumnDefinition, into writer: inout ByteWriter) {
        writer.writeString(column.name)
        writer.writeString(column.declaredType)
        var flags: UInt8 = column.notNull ? 1 : 0
        if column.defaultSQL != nil { flags |= 2 }
        if column.collation != nil { flags |= 4 }
        writer.writeByte(flags)
        if let defaultSQL = column.defaultSQL { writer.writeString(defaultSQL) }
        if let collation = column.collation { writer.writeString(collation) }
    }

    public static func decodeSchemaChange(_ reader: inout ByteReader) throws(FormatError) -> SchemaChange {
        let tag = try reader.readByte()
        switch SchemaTag(rawValue: tag) {
        case .createTable:
            let name = try readObjectName(&reader)
            let flags = try reader.readByte()
            guard flags & ~7 == 0 else { throw .malformed("unknown table flags \(flags)") }
            let columnCount = try reader.readCount()
            guard columnCount >= 1 else { throw .malformed("table \(name) has no columns") }
            guard columnCount <= ReplicatedSchema.Table.maximumColumns else {
                throw .malformed("table \(name) has more than \(ReplicatedSchema.Table.maximumColumns) columns")
            }
            var columns: [ColumnDefinition] = []
            var names = Set<IdentifierKey>()
            for _ in 0..<columnCount {
                let column = try decodeColumn(&reader)
                guard names.insert(SQLText.key(column.name)).inserted else {
                    throw .malformed("column \(column.name) appears twice in table \(name)")
                }
                columns.append(column)
            }
            let keyCount = try reader.readCount()
            guard keyCount >= 1 else { throw .malformed("table \(name) has no primary key") }
            var primaryKey: [String] = []
            for _ in 0..<keyCount {
                let column = try readIdentifier(&reader)
                guard names.contains(SQLText.key(column)), !primaryKey.map(SQLText.key).contains(SQLText.key(column)) else {
                    throw .malformed("primary key column \(column) is not a distinct column of \(name)")
                }
                primaryKey.append(column)
            }
            var checks: [CheckConstraint] = []
            var foreignKeys: [ForeignKeyConstraint] = []
            if flags & 4 != 0 {
                for _ in 0..<(try reader.readCount(minimumItemSize: 3)) {
                    let constraintName = try reader.readString()
                    if !constraintName.isEmpty, let problem = SQLText.identifierProblem(constraintName) {
                        throw .malformed("invalid constraint name: \(problem)")
                    }
                    let expression = try reader.readString()
                    guard SQLText.isParenthesizedExpression(expression) else {
                        throw .malformed("a CHECK constraint of \(name) is not one parenthesized expression")
                    }
                    checks.append(CheckConstraint(name: constraintName.isEmpty ? nil : constraintName, expression: expression))
                }
                for _ in 0..<(try reader.readCount(minimumItemSize: 4)) {
                    foreignKeys.append(try decodeForeignKey(&reader, table: name, columns: names))
                }
                guard !checks.isEmpty || !foreignKeys.isEmpty else { throw .malformed("table \(name) says it has constraints and has none") }
            }
            return .createTable(
                TableDefinition(
                    name: name, columns: columns, primaryKey: primaryKey, withoutRowID: flags & 1 != 0,
                    strict: flags & 2 != 0, checks: checks, foreignKeys: foreignKeys))
        case .addColumn:
            let table = try readIdentifier(&reader)
            return .addColumn(table: table, column: try decodeColumn(&reader))
        case .createIndex:
            let name = try readObjectName(&reader)
            let table = try readIdentifier(&reader)
            let count = try reader.readCount(minimumItemSize: 2)
            guard count >= 1 else { throw .malformed("index \(name) has no columns") }
            guard count <= ReplicatedSchema.Table.maximumColumns else { throw .malformed("index \(name) has too many columns") }
            var columns: [IndexDefinition.Column] = []
            for _ in 0..<count {
                let column = try readIdentifier(&reader)
                let order = try reader.readByte()
                guard order <= 1 else { throw .malformed("bad index column order") }
                columns.append(IndexDefinition.Column(name: column, descending: order == 1))
            }
            return .createIndex(IndexDefinition(name: name, table: table, columns: columns))
        case .createObject:
            guard let kind = SchemaObjectDefinition.Kind(rawValue: try reader.readByte()), kind != .index else {
                throw .malformed("unknown kind of schema object")
            }
            let name = try readObjectName(&reader)
            let table = try reader.readString()
            if kind == .trigger, let problem = SQLText.identifierProblem(table) { throw .malformed("invalid trigger table: \(problem)") }
            if kind == .view, !table.isEmpty { throw .malformed("a view names no table") }
            let sql = try reader.readString()
            let object = SchemaObjectDefinition(kind: kind, name: name, table: table, sql: sql)
            if let problem = SQLText.schemaObjectProblem(object) { throw .malformed("\(kind.keyword.lowercased()) \(name): \(problem)") }
            return .createObject(object)
        case .dropObject:
            guard let kind = SchemaObjectDefinition.Kind(rawValue: try reader.readByte()) else {
                throw .malformed("unknown kind of schema object")
            }
            return .dropObject(kind: kind, name: try readObjectName(&reader))
        case nil:
            throw .malformed("unknown schema change \(tag) (written by a newer version?)")
        }
    }

    private static func decodeForeignKey(
        _ reader: inout ByteReader, table: String, columns: Set<IdentifierKey>
    ) throws(FormatError) -> ForeignKeyConstraint {
        let count = try reader.readCount(minimumItemSize: 2)
        guard count >= 1 else { throw .malformed("a foreign key of \(table) has no columns") }
        var keyColumns: [String] = []
        for _ in 0..<count {
            let column = try readIdentifier(&reader)
            guard columns.contains(SQLText.key(column)) else {
                throw .malformed("foreign key column \(column) is not a column of \(table)")
            }
            keyColumns.append(column)
        }
        let parent = try readIdentifier(&reader)
        let parentCount = try reader.readCount(minimumItemSize: 2)
        guard parentCount == 0 || parentCount == count else {
            throw .malformed("a foreign key of \(table) names \(count) columns and \(parentCount) parent columns")
        }
        var parentColumns: [String] = []
        for _ in 0..<parentCount { parentColumns.append(try readIdentifier(&reader)) }
        let actions = try reader.readByte()
        guard Int(actions & 7) < foreignKeyActions.count, Int(actions >> 3 & 7) < foreignKeyActions.count, actions & 128 == 0 else {
            throw .malformed("unknown foreign key action")
        }
        return ForeignKeyConstraint(
            columns: keyColumns, parentTable: parent, parentColumns: parentColumns, onDelete: foreignKeyActions[Int(actions & 7)],
            onUpdate: foreignKeyActions[Int(actions >> 3 & 7)], deferred: actions & 64 != 0)
    }

    static func decodeColumn(_ reader: inout ByteReader) throws(FormatError) -> ColumnDefinition {
        let name = try readIdentifier(&reader)
        let declaredType = try reader.readString()
        guard declaredType.isEmpty || SQLText.isValidDeclaredType(declaredType) else {
            throw .malformed("column \(name) has an invalid type")
        }
        let flags = try reader.readByte()
        guard flags & ~7 == 0 else { throw .malformed("unknown column flags \(flags)") }
        var defaultSQL: String?
        if flags & 2 != 0 {
            let text = try reader.readString()
            guard SQLText.isValidDefaultExpression(text) else {
                throw .malformed("column \(name) has an invalid DEFAULT expression")
            }
            defaultSQL = text
        }
        var collation: String?
        if flags & 4 != 0 {
            let collationName = try readIdentifier(&reader)
            // Only SQLite's built-in collations exist on every replica.
            guard ["BINARY", "NOCASE", "RTRIM"].contains(collationName.uppercased()) else {
                throw .malformed("column \(name) uses the unknown collation \(collationName)")
            }
            collation = collationName
        }
        return ColumnDefinition(
            name: name, declaredType: declaredType, notNull: flags & 1 != 0, defaultSQL: defaultSQL, collation: collation)
    }

    private static func readIdentifier(_ reader: inout ByteReader) throws(FormatError) -> String {
        let name = try reader.readString()
        if let problem = SQLText.identifierProblem(name) { throw .malformed("invalid identifier: \(problem)") }
        return name
    }

    /// The name of a table or index: also outside the names SQLite and
    /// P2PDB keep for themselves, so that no entry can create or replace
    /// an internal object.
    private static func readObjectName(_ reader: inout ByteReader) throws(FormatError) -> String {
        let name = try readIdentifier(&reader)
        if SQLText.isReservedObjectName(name) { throw .malformed("the name \(name) is reserved") }
        return name
    }

    // MARK: Row changes

    static func encode(_ changes: TableChanges, into writer: inout ByteWriter) {
        writer.writeString(changes.table)
        writer.writeVarint(changes.primaryKeyColumns.count)
        for name in changes.primaryKeyColumns { writer.writeString(name) }
        writer.writeVarint(changes.columns.count)
        for name in changes.columns { writer.writeString(name) }
        writer.writeVarint(changes.rows.count)
        for row in changes.rows {
            writer.writeByte(row.kind.rawValue)
            writer.writeVarint(row.causalLength)
            for value in row.primaryKey { writer.writeValue(value) }
            writer.writeVarint(row.values.count)
            for item in row.values {
                writer.writeVarint(item.column)
                writer.writeValue(item.value)
            }
            writer.writeVarint(row.deltas.count)
            for item in row.deltas {
                writer.writeVarint(item.column)
                writer.writeSignedVarint(item.delta)
            }
        }
    }

    static func decodeTableChanges(_ reader: inout ByteReader) throws(FormatError) -> TableChanges {
        let table = try readIdentifier(&reader)
        let keyCount = try reader.readCount()
        guard keyCount >= 1 else { throw .malformed("changes to \(table) name no primary key") }
        var keyColumns: [String] = []
        for _ in 0..<keyCount { keyColumns.append(try readIdentifier(&reader)) }
        let columnCount = try reader.readCount()
        var columns: [String] = []
        for _ in 0..<columnCount { columns.append(try readIdentifier(&reader)) }
        let allNames = (keyColumns + columns).map(SQLText.key)
        guard Set(allNames).count == allNames.count else { throw .malformed("changes to \(table) repeat a column") }
        let rowCount = try reader.readCount(minimumItemSize: 4)
        var rows: [RowChange] = []
        rows.reserveCapacity(rowCount)
        var keys = Set<[Value]>()
        for _ in 0..<rowCount {
            guard let kind = RowChange.Kind(rawValue: try reader.readByte()) else {
                throw .malformed("unknown row change kind")
            }
            let causalLength = try reader.readVarint()
            let isEven = causalLength % 2 == 0
            guard causalLength >= 1, causalLength <= maximumCounter, (kind == .delete) == isEven else {
                throw .malformed("causal length \(causalLength) does not fit a \(kind) in \(table)")
            }
            var key: [Value] = []
            for _ in 0..<keyCount {
                let value = try reader.readValue()
                guard !value.isNull else { throw .malformed("NULL primary key value in \(table)") }
                key.append(value)
            }
            guard keys.insert(key).inserted else { throw .malformed("row changed twice in one entry of \(table)") }
            let valueCount = try reader.readCount(minimumItemSize: 2)
            var values: [ColumnValue] = []
            for _ in 0..<valueCount {
                let column = try readColumnIndex(&reader, count: columnCount, after: values.last?.column)
                values.append(ColumnValue(column: column, value: try reader.readValue()))
            }
            let deltaCount = try reader.readCount(minimumItemSize: 2)
            var deltas: [ColumnDelta] = []
            for _ in 0..<deltaCount {
                let column = try readColumnIndex(&reader, count: columnCount, after: deltas.last?.column)
                guard !values.contains(where: { $0.column == column }) else {
                    throw .malformed("column written as both value and delta in \(table)")
                }
                deltas.append(ColumnDelta(column: column, delta: try reader.readSignedVarint()))
            }
            guard kind != .delete || (values.isEmpty && deltas.isEmpty) else {
                throw .malformed("a delete in \(table) carries values")
            }
            rows.append(RowChange(kind: kind, causalLength: causalLength, primaryKey: key, values: values, deltas: deltas))
        }
        return TableChanges(table: table, primaryKeyColumns: keyColumns, columns: columns, rows: rows)
    }

    private static func readColumnIndex(_ reader: inout ByteReader, count: Int, after previous: Int?) throws(FormatError) -> Int {
        let raw = try reader.readVarint()
        guard raw < UInt64(count) else { throw .malformed("column index \(raw) out of range") }
        let column = Int(raw)
        if let previous, column <= previous { throw .malformed("column references are not sorted and unique") }
        return column
    }
}
