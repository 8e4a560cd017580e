import P2PDBCore
import PropertyBased
import Testing

/// A fixed key, so that entries and their IDs are reproducible.
let goldenKey = try! NodeKey(seed: Array(repeating: 7, count: 32))

let samplePayload = EntryPayload(
    schemaChanges: [
        .createTable(
            TableDefinition(
                name: "items",
                columns: [
                    ColumnDefinition(name: "id", declaredType: "TEXT"),
                    ColumnDefinition(name: "name", declaredType: "TEXT", notNull: true, defaultSQL: "''"),
                    ColumnDefinition(name: "stock", declaredType: "COUNTER INTEGER", notNull: true, defaultSQL: "0"),
                ],
                primaryKey: ["id"]))
    ],
    tableChanges: [
        TableChanges(
            table: "items", primaryKeyColumns: ["id"], columns: ["name", "stock"],
            rows: [
                RowChange(kind: .insert, causalLength: 1, primaryKey: ["apple"], values: [ColumnValue(column: 0, value: "Apple")],
                          deltas: [ColumnDelta(column: 1, delta: 10)]),
                RowChange(kind: .delete, causalLength: 2, primaryKey: ["pear"]),
            ])
    ])

@Suite("Entries")
struct EntryTests {
    @Test func encodingRoundTrips() throws {
        let parent = EntryID(Signatures.sha256([1, 2, 3]))
        let entry = Entry.make(author: goldenKey, seq: 3, lamport: 9, parents: [parent], wallTime: 1_700_000_000_000, payload: samplePayload)
        let decoded = try Entry(bytes: entry.bytes)
        #expect(decoded.id == entry.id)
        #expect(decoded.author == goldenKey.nodeID)
        #expect(decoded.seq == 3)
        #expect(decoded.lamport == 9)
        #expect(decoded.parents == [parent])
        #expect(decoded.wallTime == 1_700_000_000_000)
        #expect(decoded.payload == samplePayload)
        #expect(decoded.signature == entry.signature)
    }

    /// Format version 1 must keep decoding to the same entry with the same
    /// ID: these bytes are what a replica wrote; a future build reads them.
    @Test func goldenVector() throws {
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        #expect(goldenKey.nodeID.hex == "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c")
        #expect(Hex.encode(entry.bytes.prefix(40)) == "50324501ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c01010000")
        #expect(entry.id.hex == Self.goldenID)
        let decoded = try Entry(bytes: entry.bytes)
        #expect(decoded.payload == samplePayload)
    }

    /// Bytes a format-version-1 writer produced, stored whole: they must
    /// decode, verify and name the same fields and ID on every build.
    @Test func storedVersion1BytesDecode() throws {
        let bytes = try #require(Hex.decode(Self.goldenBytes))
        let entry = try Entry(bytes: bytes)
        #expect(entry.id.hex == Self.goldenID)
        #expect(entry.author == goldenKey.nodeID)
        #expect(entry.seq == 1)
        #expect(entry.lamport == 1)
        #expect(entry.parents.isEmpty)
        #expect(entry.wallTime == 0)
        #expect(entry.payload == samplePayload)
        #expect(entry.bytes == bytes)
    }

    static let goldenBytes =
        "50324501ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c010100000101056974656d730003026964045445585400046e616d650454455854030227270573746f636b0f434f554e54455220494e54454745520301300102696401056974656d730102696402046e616d650573746f636b02010103056170706c65010003054170706c6501011403020304706561720000eb0774d1665cd11abdbaba1ab59f014501f62af63c9bacb9419e013eb047b767e7e32f7a1e2a054c5332d1274d60f9faa6cbd11faa39450a111d3ca25070b704"

    static let goldenID = "9b44281eeeaf80964bac67f5167bdaaece23c24c3b7f2642b2aa7c1a39deb1a7"

    @Test func parentsAreSortedAndDeduplicated() {
        let a = EntryID(Signatures.sha256([1]))
        let b = EntryID(Signatures.sha256([2]))
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 2, parents: [b, a, b], wallTime: 0, payload: EntryPayload())
        #expect(entry.parents == [a, b].sorted())
    }

    @Test func everyFlippedBitIsDetected() throws {
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 5, payload: samplePayload)
        for index in stride(from: 0, to: entry.bytes.count, by: 7) {
            var bytes = entry.bytes
            bytes[index] ^= 0x01
            #expect(throws: EntryError.self) { _ = try Entry(bytes: bytes) }
        }
    }

    @Test func entryClaimingAnotherAuthorIsRefused() throws {
        let forger = NodeKey()
        let honest = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        let forged = Entry.make(author: forger, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        // Splice the victim's node ID into the forger's signed bytes.
        var bytes = forged.bytes
        bytes.replaceSubrange(4..<36, with: goldenKey.nodeID.raw.bytes)
        #expect(throws: EntryError.badSignature(author: goldenKey.nodeID)) { _ = try Entry(bytes: bytes) }
        #expect(try Entry(bytes: honest.bytes).author == goldenKey.nodeID)
    }

    @Test func truncatedAndTrailingBytesAreRefused() {
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        #expect(throws: EntryError.self) { _ = try Entry(bytes: Array(entry.bytes.dropLast(10))) }
        #expect(throws: EntryError.self) { _ = try Entry(bytes: entry.bytes + [0]) }
        #expect(throws: EntryError.self) { _ = try Entry(bytes: []) }
    }

    @Test func causalLengthMustFitTheKind() throws {
        var payload = samplePayload
        payload.tableChanges[0].rows[1].causalLength = 3  // a delete must be even
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: payload)
        #expect(throws: EntryError.self) { _ = try Entry(bytes: entry.bytes) }
    }

    @Test func unknownVersionIsNamed() throws {
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        var bytes = entry.bytes
        let newer = Entry.formatVersion + 1
        bytes[3] = newer
        #expect(throws: EntryError.malformed(.unsupportedVersion(newer))) { _ = try Entry(bytes: bytes) }
    }

    /// Constraints, views, triggers and drops need version 2; everything
    /// else stays version 1, and an entry claiming the other version is
    /// malformed (one entry, one encoding).
    @Test func schemaObjectsRoundTripInVersionTwoOnly() throws {
        let table = TableDefinition(
            name: "lines", columns: [ColumnDefinition(name: "id", declaredType: "TEXT"), ColumnDefinition(name: "product", declaredType: "TEXT")],
            primaryKey: ["id"], checks: [CheckConstraint(name: "short", expression: "(length(id) < 9)")],
            foreignKeys: [ForeignKeyConstraint(columns: ["product"], parentTable: "products", onDelete: .cascade, deferred: true)])
        let trigger = SchemaObjectDefinition(
            kind: .trigger, name: "t", table: "lines", sql: "CREATE TRIGGER \"t\" AFTER INSERT ON lines BEGIN SELECT 1; END")
        let view = SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE VIEW \"v\" AS SELECT 1")
        let newer = EntryPayload(
            schemaChanges: [.createTable(table), .createObject(trigger), .createObject(view), .dropObject(kind: .index, name: "i")],
            tableChanges: [])
        let entry = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: newer)
        #expect(entry.bytes[3] == 2)
        #expect(try Entry(bytes: entry.bytes).payload == newer)
        var downgraded = entry.bytes
        downgraded[3] = 1
        #expect(throws: EntryError.self) { _ = try Entry(bytes: downgraded, verifySignature: false) }
        let older = Entry.make(author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0, payload: samplePayload)
        #expect(older.bytes[3] == 1)
        var upgraded = older.bytes
        upgraded[3] = 2
        #expect(throws: EntryError.self) { _ = try Entry(bytes: upgraded, verifySignature: false) }
    }

    @Test func schemaObjectsThatAreNotOneStatementOfTheirKindAreMalformed() throws {
        for object in [
            SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE VIEW \"v\" AS SELECT 1; DROP TABLE x"),
            SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE VIEW \"w\" AS SELECT 1"),
            SchemaObjectDefinition(kind: .view, name: "v", sql: "CREATE TABLE \"v\" (x)"),
            SchemaObjectDefinition(kind: .trigger, name: "t", table: "x", sql: "CREATE TRIGGER \"t\" AFTER INSERT ON x BEGIN SELECT 1; END; SELECT 2"),
            SchemaObjectDefinition(kind: .trigger, name: "t", table: "x", sql: "CREATE TRIGGER \"t\" BEFORE INSERT ON x BEGIN SELECT RAISE(IGNORE); END"),
            SchemaObjectDefinition(kind: .view, name: "_p2pdb_rows", sql: "CREATE VIEW \"_p2pdb_rows\" AS SELECT 1"),
        ] {
            let entry = Entry.make(
                author: goldenKey, seq: 1, lamport: 1, parents: [], wallTime: 0,
                payload: EntryPayload(schemaChanges: [.createObject(object)], tableChanges: []))
            #expect(throws: EntryError.self) { _ = try Entry(bytes: entry.bytes) }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() async {
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...300)) { (bytes: [UInt8]) in
            #expect(throws: EntryError.self) { _ = try Entry(bytes: [0x50, 0x32, 0x45, 0x01] + bytes) }
        }
    }

    @Test func parallelVerificationNamesTheFirstBadEntry() throws {
        let entries = (1...200).map { Entry.make(author: goldenKey, seq: UInt64($0), lamport: UInt64($0), parents: [], wallTime: 0, payload: samplePayload) }
        var bodies = entries.map(\.bytes)
        #expect(try EntryVerifier.verify(bodies).map(\.id) == entries.map(\.id))
        bodies[150][60] ^= 0xff
        #expect(throws: P2PDBError.self) { _ = try EntryVerifier.verify(bodies) }
        do {
            _ = try EntryVerifier.verify(bodies)
        } catch {
            #expect(error.message.hasPrefix("entry #151"))
        }
    }
}

@Suite("Bundles")
struct BundleTests {
    @Test func roundTripAndDamage() throws {
        let entries = (1...3).map { Entry.make(author: goldenKey, seq: UInt64($0), lamport: UInt64($0), parents: [], wallTime: 0, payload: samplePayload).bytes }
        let bundle = BundleCodec.encode(entries)
        #expect(try BundleCodec.decode(bundle) == entries)
        #expect(throws: P2PDBError.self) { _ = try BundleCodec.decode(Array(bundle.dropLast())) }
        var corrupted = bundle
        corrupted[40] ^= 1
        #expect(throws: P2PDBError.self) { _ = try BundleCodec.decode(corrupted) }
        #expect(throws: P2PDBError.self) { _ = try BundleCodec.decode(Array("hello".utf8)) }
    }
}
