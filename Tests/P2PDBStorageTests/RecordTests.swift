import Foundation
import P2PDB
import P2PDBCore
import P2PDBStorage
import PropertyBased
import Testing

/// Typed records: rows decoded into `Decodable` types (``RowDecoder``),
/// parameters encoded from `Encodable` ones (``ValueEncoder``), through a
/// real replica so that what SQLite stores is what is checked.
@Suite struct RecordTests {
    // MARK: Values of every storage class

    /// Integers at the edges, reals with odd bit patterns, text with NUL
    /// bytes and non-ASCII in both Unicode normalisations, blobs, NULL.
    static func randomValue(_ random: inout SeededGenerator) -> Value {
        switch Int.random(in: 0..<9, using: &random) {
        case 0: return .null
        case 1: return .integer([Int64.min, Int64.max, 0, -1, 1, Int64(Int32.max) + 1].randomElement(using: &random) ?? 0)
        case 2: return .integer(Int64.random(in: .min ... .max, using: &random))
        case 3:
            return .real(
                [-0.0, 0.0, 1.0, -2.0, 1e300, -1e-300, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 9007199254740993.0]
                    .randomElement(using: &random) ?? 0)
        case 4:
            let real = Double(bitPattern: UInt64.random(in: 0 ... .max, using: &random))
            return .real(real.isNaN ? 0.5 : real)
        case 5: return .real(Double(Int64.random(in: -1_000_000...1_000_000, using: &random)))
        case 6:
            let pieces = ["a", "\u{0}", "caf\u{E9}", "cafe\u{301}", "日本", "🇫🇷", "'", "\"", " ", "\n", "x\u{0}y", "Å", "A\u{30A}"]
            return .text((0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random) ?? "" }.joined())
        case 7: return .blob((0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0 ... .max, using: &random) })
        default: return .text(String(Int.random(in: -100...100, using: &random)))
        }
    }

    /// Every value survives a trip through the replica, and decodes into
    /// exactly the Swift types its storage class allows: the others fail
    /// with a P2PDBError that names the column, never a trap.
    @Test func everyStorageClassRoundTripsAndDecodesStrictly() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE cells(id INTEGER PRIMARY KEY, v)")
        try await propertyCheck(count: 200, input: Gen.int(in: 0...Int(Int32.max))) { (seed: Int) in
            var random = SeededGenerator(seed: UInt64(seed))
            let value = Self.randomValue(&random)
            try await replica.sql("INSERT OR REPLACE INTO cells(id, v) VALUES (1, ?)", [value])
            let result = try #require(try await replica.store.query(SQLRequest("SELECT v FROM cells WHERE id = 1")).last)
            #expect(result.rows == [[value]], "stored \(value), read \(result.rows)")
            try Self.checkDecoding(value, result)
        }
    }

    static func checkDecoding(_ value: Value, _ result: StatementResult) throws {
        func decoded<T: Decodable>(_ type: T.Type) -> Result<T, P2PDBError> {
            do {
                guard let first = try result.decode(type).first else { return .failure(P2PDBError(.notFound, "no row")) }
                return .success(first)
            } catch {
                return .failure(error)
            }
        }
        // Whatever the value, the untyped view gives it back as is.
        #expect(try decoded(Value.self).get() == value)
        // NULL is nil for an optional, an error otherwise.
        if value.isNull { #expect(try decoded(Int64?.self).get() == nil) }
        switch value {
        case .null:
            for failure in [decoded(Int64.self).map { _ in () }, decoded(String.self).map { _ in () }, decoded(Double.self).map { _ in () }] {
                guard case .failure(let error) = failure else { Issue.record("NULL decoded as a non-optional"); continue }
                #expect(error.message.contains("column \"v\" is NULL"), "\(error.message)")
            }
        case .integer(let integer):
            #expect(try decoded(Int64.self).get() == integer)
            #expect(try decoded(Double.self).get() == Double(integer))
            #expect(try Value(encoding: decoded(Int64.self).get()) == value)
            #expect((try? decoded(Int8.self).get()) == Int8(exactly: integer))
            #expect((try? decoded(UInt64.self).get()) == UInt64(exactly: integer))
            #expect((try? decoded(Bool.self).get()) == (integer == 0 ? false : integer == 1 ? true : nil))
            expectMismatch(decoded(String.self), "INTEGER")
            expectMismatch(decoded(Data.self), "INTEGER")
        case .real(let real):
            #expect(try decoded(Double.self).get().bitPattern == real.bitPattern)
            #expect(try Value(encoding: decoded(Double.self).get()) == value)
            // Whole-number reals decode into integers, as SQLite and GRDB convert them.
            #expect((try? decoded(Int64.self).get()) == Int64(exactly: real))
            expectMismatch(decoded(String.self), "REAL")
            expectMismatch(decoded([UInt8].self), "REAL")
        case .text(let text):
            #expect(try decoded(String.self).get().utf8.elementsEqual(text.utf8))
            #expect(try Value(encoding: decoded(String.self).get()) == value)
            expectMismatch(decoded(Int.self), "TEXT")
            expectMismatch(decoded(Double.self), "TEXT")
            expectMismatch(decoded(Data.self), "TEXT")
        case .blob(let bytes):
            #expect(try decoded(Data.self).get() == Data(bytes))
            #expect(try decoded([UInt8].self).get() == bytes)
            #expect(try Value(encoding: decoded(Data.self).get()) == value)
            expectMismatch(decoded(String.self), "BLOB")
            expectMismatch(decoded(Int.self), "BLOB")
        }
    }

    static func expectMismatch<T>(_ result: Result<T, P2PDBError>, _ storageClass: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .failure(let error) = result else {
            Issue.record("decoded \(storageClass) as \(T.self)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.kind == .invalidInput, sourceLocation: sourceLocation)
        #expect(error.message.contains("column \"v\" holds \(storageClass)"), "\(error.message)", sourceLocation: sourceLocation)
    }

    // MARK: Records

    enum Kind: String, Codable, Equatable, Sendable { case fruit, tool }
    struct Detail: Codable, Equatable, Sendable {
        var origin: String
        var grams: Int
        var picked: Date?
    }

    struct Item: Codable, Equatable, Sendable {
        var id: String
        var name: String
        var stock: Int
        var price: Double
        var tiny: Int8
        var big: UInt64
        var active: Bool
        var note: String?
        var photo: Data
        var raw: [UInt8]
        var added: Date
        var ref: UUID
        var tags: [String]
        var detail: Detail
        var kind: Kind
        var link: URL
    }

    static let itemsTable = """
        CREATE TABLE items(id TEXT PRIMARY KEY, name, stock, price, tiny, big, active, note, photo, raw, added, ref, tags, detail, kind, link)
        """
    static let insertItem = """
        INSERT INTO items(id, name, stock, price, tiny, big, active, note, photo, raw, added, ref, tags, detail, kind, link)
        VALUES (:id, :name, :stock, :price, :tiny, :big, :active, :note, :photo, :raw, :added, :ref, :tags, :detail, :kind, :link)
        """

    static func randomItem(_ random: inout SeededGenerator, id: Int) -> Item {
        let texts = ["", "apple", "caf\u{E9}", "cafe\u{301}", "a\u{0}b", "日本語", "O'Brien", "🍎"]
        func text() -> String { texts.randomElement(using: &random) ?? "" }
        return Item(
            id: "item-\(id)", name: text(), stock: Int.random(in: .min ... .max, using: &random),
            price: [-0.5, 1e-9, 3.25, 1e300, -.infinity, 42].randomElement(using: &random) ?? 0,
            tiny: Int8.random(in: .min ... .max, using: &random), big: UInt64.random(in: 0...UInt64(Int64.max), using: &random),
            active: Bool.random(using: &random), note: Bool.random(using: &random) ? text() : nil,
            photo: Data((0..<Int.random(in: 0...20, using: &random)).map { _ in UInt8.random(in: 0 ... .max, using: &random) }),
            raw: (0..<Int.random(in: 0...5, using: &random)).map { _ in UInt8.random(in: 0 ... .max, using: &random) },
            added: Date(timeIntervalSince1970: Double(Int64.random(in: -62_000_000_000_000...253_000_000_000_000, using: &random)) / 1000),
            ref: UUID(), tags: (0..<Int.random(in: 0...3, using: &random)).map { _ in text() },
            detail: Detail(
                origin: text(), grams: Int.random(in: -5...5000, using: &random),
                picked: Bool.random(using: &random) ? Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_000_000_000_000, using: &random)) / 1000) : nil),
            kind: Bool.random(using: &random) ? .fruit : .tool,
            link: URL(string: "https://example.com/\(id)?q=\(Int.random(in: 0...9, using: &random))") ?? URL(fileURLWithPath: "/"))
    }

    /// Records encoded into named parameters and decoded back are equal,
    /// whatever their values; dates to the millisecond.
    @Test func recordsRoundTripThroughTheReplica() async throws {
        let node = try TestNode()
        try await node.node.execute(Self.itemsTable)
        try await propertyCheck(count: 60, input: Gen.int(in: 0...Int(Int32.max))) { (seed: Int) in
            var random = SeededGenerator(seed: UInt64(seed))
            let item = Self.randomItem(&random, id: seed)
            try await node.node.execute(Self.insertItem, record: item)
            let read = try #require(try await node.node.queryOne(Item.self, "SELECT * FROM items WHERE id = ?", [.text(item.id)]))
            #expect(read == item)
        }
        let count = try await node.node.queryOne(Int.self, "SELECT count(*) FROM items")
        #expect(count == 60)
        let names = try await node.node.query(String.self, "SELECT id FROM items ORDER BY id LIMIT 2")
        #expect(names.count == 2)
    }

    @Test func storedFormsAreDocumented() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000.25)
        #expect(try Value(encoding: date) == .text("2023-11-14 22:13:20.250"))
        #expect(try Value(encoding: true) == .integer(1))
        #expect(try Value(encoding: ["b": 1, "a": 2]) == .text("{\"a\":2,\"b\":1}"))
        #expect(try Value(encoding: Kind.fruit) == .text("fruit"))
        #expect(try Value(encoding: Optional<Int>.none) == .null)
        #expect(try Value(encoding: UInt64(Int64.max)) == .integer(.max))
        // Dates SQLite writes, and numbers of seconds.
        for (stored, seconds) in [
            (Value.text("2023-11-14 22:13:20"), 1_700_000_000.0), (.text("2023-11-14T22:13:20Z"), 1_700_000_000),
            (.text("2023-11-14T23:13:20+01:00"), 1_700_000_000), (.text("2023-11-14"), 1_699_920_000),
            (.integer(1_700_000_000), 1_700_000_000), (.real(1_700_000_000.5), 1_700_000_000.5),
            (.text("1969-12-31 23:59:59.5"), -0.5),
        ] {
            #expect(try RowDecoder().decode(Date.self, columns: ["at"], row: [stored]).timeIntervalSince1970 == seconds, "\(stored)")
        }
    }

    /// Every whole millisecond of the years 0000 to 9999 comes back as the
    /// same date, and the texts sort as the dates do.
    @Test func datesRoundTripToTheMillisecondAndSort() async {
        let range: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999
        await propertyCheck(count: 500, input: Gen.int64(in: range), Gen.int64(in: range)) { (a: Int64, b: Int64) in
            let first = Date(timeIntervalSince1970: Double(a) / 1000)
            let second = Date(timeIntervalSince1970: Double(b) / 1000)
            guard case .text(let firstText) = try Value(encoding: first), case .text(let secondText) = try Value(encoding: second) else {
                Issue.record("a date encoded as something else than text")
                return
            }
            #expect(try RowDecoder().decode(Date.self, columns: ["at"], row: [.text(firstText)]) == first, "\(firstText)")
            #expect((firstText < secondText) == (first < second), "\(firstText) \(secondText)")
        }
    }

    @Test func encodingRefusesWhatSQLiteCannotHold() {
        #expect(throws: P2PDBError.self) { try Value(encoding: UInt64.max) }
        #expect(throws: P2PDBError.self) { try Value(encoding: Double.nan) }
        #expect(throws: P2PDBError.self) { try Value(encoding: Date(timeIntervalSince1970: -70_000_000_000)) }
        #expect(throws: P2PDBError.self) { try ValueEncoder().encodeRecord(42) }
    }

    struct Pair: Decodable { var id: String; var qty: Int }

    /// Mismatches are errors that name the row, the column and what it
    /// holds, and say what to do.
    @Test func mismatchesExplainThemselves() throws {
        func message<T: Decodable>(_ type: T.Type, _ columns: [String], _ rows: [[Value]]) -> String {
            do {
                _ = try RowDecoder().decode(type, columns: columns, rows: rows)
                return "decoded"
            } catch {
                #expect(error.kind == .invalidInput)
                return error.message
            }
        }
        let text = message(Pair.self, ["id", "qty"], [["a", 1], ["b", "many"]])
        #expect(text.contains("row 2") && text.contains("column \"qty\" holds TEXT 'many'") && text.contains("Int needs an INTEGER"), "\(text)")
        let missing = message(Pair.self, ["id"], [["a"]])
        #expect(missing.contains("no column \"qty\"") && missing.contains("it returns id"), "\(missing)")
        let null = message(Pair.self, ["id", "qty"], [["a", nil]])
        #expect(null.contains("column \"qty\" is NULL") && null.contains("Int?"), "\(null)")
        let range = message(UInt8.self, ["n"], [[300]])
        #expect(range.contains("outside the range of UInt8"), "\(range)")
        let fraction = message(Int.self, ["n"], [[.real(2.5)]])
        #expect(fraction.contains("REAL 2.5"), "\(fraction)")
        let columns = message(Int.self, ["a", "b"], [[1, 2]])
        #expect(columns.contains("select one column"), "\(columns)")
        let json = message([String].self, ["tags"], [["not json"]])
        #expect(json.contains("not JSON"), "\(json)")
        let short = message(Pair.self, ["id", "qty"], [["a"]])
        #expect(short.contains("1 values for 2 columns"), "\(short)")
        let bool = message(Bool.self, ["flag"], [[2]])
        #expect(bool.contains("Bool needs 0 or 1"), "\(bool)")
        // Names match exactly, or else ignoring ASCII case as SQLite's do;
        // the leftmost of two wins.
        #expect(try RowDecoder().decode(Pair.self, columns: ["ID", "Qty", "QTY"], row: ["a", 1, 2]).qty == 1)
        #expect(try RowDecoder().decode(Pair.self, columns: ["id", "Qty", "qty"], row: ["a", 1, 2]).qty == 2)
        #expect(try RowDecoder().decode(Pair.self, columns: ["id", "qty", "qty"], row: ["a", 1, 2]).qty == 1)
        // One column holding JSON decodes into an array.
        #expect(try RowDecoder().decode([String].self, columns: ["tags"], row: [#"["a","b"]"#]) == ["a", "b"])
        let several = message([String].self, ["a", "b"], [[1, 2]])
        #expect(several.contains("not into an array"), "\(several)")
    }

    struct Change: Encodable {
        var id: String
        var qty: Int
        var note: String?
    }

    @Test func namedParametersBindRecordProperties() async throws {
        let replica = try TestReplica()
        try await replica.sql("CREATE TABLE t(id TEXT PRIMARY KEY, qty INTEGER, note TEXT, twice INTEGER)")
        // A name used twice, in two statements, a nil optional as NULL.
        let request = try SQLRequest(
            "INSERT INTO t(id, qty, note, twice) VALUES (:id, :qty, :note, :qty * 2); UPDATE t SET qty = qty + @qty WHERE id = $id",
            record: Change(id: "a", qty: 3, note: nil))
        #expect(request.parameters == ["a", 3, nil, 3, "a"])
        try await replica.store.execute([request])
        #expect(try await replica.rows("SELECT id, qty, note, twice FROM t") == [["a", 6, nil, 6]])

        let missing = #expect(throws: P2PDBError.self) { try SQLRequest("SELECT :id, :price", record: Change(id: "a", qty: 1)) }
        #expect(missing?.message.contains(":price") == true && missing?.kind == .invalidParameters)
        let positional = #expect(throws: P2PDBError.self) { try SQLRequest("SELECT ?", record: Change(id: "a", qty: 1)) }
        #expect(positional?.message.contains("positional") == true)
    }
}

/// The README's "Embedding" examples, as written there.
@Suite struct EmbeddingExampleTests {
    struct Delivery: Codable, Sendable {
        var id: String
        var item: String
        var qty: Int
        var at: Date
        var note: String?
    }

    @Test func theReadmeExamplesRun() async throws {
        let test = try TestNode()
        let node = test.node
        try await node.execute("CREATE TABLE sales (id TEXT PRIMARY KEY, item TEXT, qty INTEGER)")
        try await node.execute("INSERT INTO sales VALUES (?, ?, ?)", ["s-1", "apple", 2])
        try await node.execute("CREATE TABLE deliveries (id TEXT PRIMARY KEY, item TEXT, qty INTEGER, at TEXT, note TEXT)")
        try await node.execute(
            "INSERT INTO deliveries(id, item, qty, at, note) VALUES (:id, :item, :qty, :at, :note)",
            record: Delivery(id: "d-1", item: "pear", qty: 12, at: Date(), note: nil))
        let since = try Value(encoding: Date(timeIntervalSinceNow: -3600))
        let recent = try await node.query(Delivery.self, "SELECT * FROM deliveries WHERE at >= ?", [since])
        #expect(recent.map(\.id) == ["d-1"])
        let sold = try await node.queryOne(Int.self, "SELECT sum(qty) FROM sales")
        #expect(sold == 2)
        for try await totals in node.observe("SELECT item, sum(qty) AS qty FROM sales GROUP BY item") {
            #expect(totals.rows == [["apple", 2]])
            break
        }
        for try await large in node.observe(Delivery.self, "SELECT * FROM deliveries WHERE qty > ?", [10]) {
            #expect(large.map(\.item) == ["pear"])
            break
        }
        try await node.close()
    }
}

/// A node in a temporary data directory, removed when the test ends.
final class TestNode: Sendable {
    let node: Node
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-node-\(UUID().uuidString)")
        node = try Node.open(DataDirectory(path: directory.path), createIfNeeded: true, options: StoreOptions(durability: .off))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
