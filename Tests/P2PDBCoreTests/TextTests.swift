import P2PDBCore
import Testing

@Suite("SQL text")
struct SQLTextTests {
    @Test func tokenizerSkipsCommentsAndKeepsQuotedNames() throws {
        let tokens = try #require(SQLText.tokenize("SELECT \"a\"\"b\", 'it''s' -- note\n/* x */ FROM [t] WHERE x >= 1.5e3"))
        #expect(tokens.map(\.text) == ["SELECT", "a\"b", ",", "it's", "FROM", "t", "WHERE", "x", ">=", "1.5e3"])
        #expect(tokens[1].kind == .quotedIdentifier)
        #expect(tokens[3].kind == .string)
        #expect(SQLText.tokenize("SELECT 'open") == nil)
        #expect(SQLText.tokenize("/* open") == nil)
    }

    @Test(arguments: ["TEXT", "COUNTER INTEGER", "VARCHAR(10)", "DECIMAL(10, 2)", "NUMERIC(-1)"])
    func validTypes(_ type: String) { #expect(SQLText.isValidDeclaredType(type)) }

    @Test(arguments: ["TEXT PRIMARY KEY", "INT)", "TEXT, evil INT", "VARCHAR(10", "X(1,2,3)", "INT DEFAULT 1"])
    func invalidTypes(_ type: String) { #expect(!SQLText.isValidDeclaredType(type)) }

    @Test(arguments: ["0", "-1", "'x'", "NULL", "CURRENT_TIMESTAMP", "(1 + 2)", "X'00ff'", "TRUE"])
    func validDefaults(_ text: String) { #expect(SQLText.isValidDefaultExpression(text)) }

    @Test(arguments: ["1, x INT", "(1); DROP TABLE t", "(1) + (2)", "?", "abs(1)"])
    func invalidDefaults(_ text: String) { #expect(!SQLText.isValidDefaultExpression(text)) }

    @Test(arguments: ["-5", "+2.5", "'a''b'", "x'0aff'", "0x10", "NULL", "TRUE", "-0x8000000000000000"])
    func literalDefaults(_ text: String) { #expect(SQLText.isLiteral(default: text)) }

    @Test(arguments: ["CURRENT_TIME", "(1)", "- 'a'", "abs(1)", ""])
    func nonLiteralDefaults(_ text: String) { #expect(!SQLText.isLiteral(default: text)) }

    @Test func identifiersCompareAsSQLiteDoes() {
        #expect(SQLText.key("Items") == SQLText.key("ITEMS"))
        // Only ASCII letters fold; other characters compare byte for byte.
        #expect(SQLText.key("É") != SQLText.key("é"))
        // NFC and NFD spellings are two names to SQLite, though equal Swift strings.
        #expect("caf\u{E9}" == "cafe\u{301}")
        #expect(SQLText.key("caf\u{E9}") != SQLText.key("cafe\u{301}"))
        #expect(SQLText.key("a") < SQLText.key("B"))
    }

    @Test func identifiersTheFormatCannotCarry() {
        #expect(SQLText.identifierProblem("") != nil)
        #expect(SQLText.identifierProblem(String(repeating: "x", count: 1025)) != nil)
        #expect(SQLText.identifierProblem("a\u{0}b") != nil)
        #expect(SQLText.identifierProblem(String(repeating: "x", count: 1024)) == nil)
        #expect(SQLText.isReservedObjectName("SQLITE_x") && SQLText.isReservedObjectName("_P2PDB_entries"))
        #expect(!SQLText.isReservedObjectName("sqlitex"))
    }
}

@Suite("JSON")
struct JSONTests {
    @Test func parsesAndPrints() throws {
        let text = #"{"sql":"SELECT ?","params":[1,1.0,-2.5e3,null,true,"a\"\u00e9\ud83c\udf4e",{"base64":"AAE="}]}"#
        let json = try JSON.parse(text)
        let params = try #require(json["params"])
        guard case .array(let items) = params else { Issue.record("params is not an array"); return }
        let values = try items.map(Value.init(json:))
        #expect(values == [.integer(1), .real(1.0), .real(-2500), .null, .integer(1), .text("a\"é🍎"), .blob([0, 1])])
        #expect(try JSON.parse(json.text) == json)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "[1] 2", "nul", "\"\u{01}\"", "1.", "-"])
    func rejectsMalformedJSON(_ text: String) {
        #expect(throws: P2PDBError.self) { _ = try JSON.parse(text) }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: P2PDBError.self) { _ = try JSON.parse(deep) }
    }

    @Test func valuesPrintWithTheirType() {
        #expect(Value.integer(3).json.text == "3")
        #expect(Value.real(3).json.text == "3.0")
        #expect(Value.text("x\n").json.text == "\"x\\n\"")
        #expect(Value.blob([255]).json.text == "{\"base64\":\"/w==\"}")
    }
}

@Suite("State hash")
struct StateHashTests {
    @Test func additionIsOrderFreeAndReversible() {
        let digests = (0..<50).map { Signatures.sha256([UInt8($0)]) }
        var forward = StateHash.zero
        for digest in digests { forward.add(digest) }
        var backward = StateHash.zero
        for digest in digests.reversed() { backward.add(digest) }
        #expect(forward == backward)
        for digest in digests { forward.subtract(digest) }
        #expect(forward == .zero)
    }

    @Test func rowDigestIgnoresCellOrderButNotValues() {
        let one = StateDigest.row(table: "T", primaryKey: [1], cells: [("a", 1), ("b", "x")])
        let two = StateDigest.row(table: "t", primaryKey: [1], cells: [("b", "x"), ("a", 1)])
        let three = StateDigest.row(table: "t", primaryKey: [1], cells: [("b", "x"), ("a", 1.0)])
        #expect(one == two)
        #expect(one != three)
    }
}
