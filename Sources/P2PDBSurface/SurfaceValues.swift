import P2PDB

/// The values a case writes: every SQLite storage class, with the values
/// where storage classes, affinities and encodings are known to bite.
enum SurfaceValues {
    static let nfc = "caf\u{E9}"
    static let nfd = "cafe\u{301}"

    static let integers: [Value] = [
        .integer(0), .integer(-1), .integer(1), .integer(2), .integer(42), .integer(Int64.min), .integer(Int64.max),
        .integer(9_007_199_254_740_993), .integer(-9_007_199_254_740_993),
    ]
    static let reals: [Value] = [
        .real(2.0), .real(-0.0), .real(0.0), .real(0.5), .real(1e308), .real(-1e-300), .real(9.2233720368547758e18),
        .real(1.0), .real(-2.5), .real(3.25),
    ]
    static let texts: [Value] = [
        .text(""), .text("a"), .text("A"), .text("a\u{0}b"), .text("1"), .text(" 5 "), .text("1e5"), .text("0x10"),
        .text("2.0"), .text(nfc), .text(nfd), .text("日本"), .text("it's"), .text("-0"),
    ]
    static let blobs: [Value] = [.blob([]), .blob([0]), .blob([0, 1, 0]), .blob([0xFF]), .blob([0x31])]

    static let all: [Value] = integers + reals + texts + blobs + [.null]

    /// Few values, so that keys collide across replicas; of mixed classes,
    /// so that `1`, `1.0` and `'1'` meet in the same key column.
    static let keys: [Value] = [
        .integer(1), .integer(2), .integer(0), .integer(-1), .real(1.0), .real(2.5), .real(-0.0), .real(0.0), .text("1"),
        .text("a"), .text("A"), .text(nfc), .text(nfd), .text(""), .blob([0]), .blob([]), .integer(Int64.max),
    ]

    /// A value for a column of a STRICT table: mostly one the column's type
    /// takes, now and then one it refuses.
    static func strictValue(forType type: String, _ random: inout CaseRandom) -> Value {
        if random.chance(0.1) { return random.pick(all) }
        switch type.uppercased() {
        case "INT", "INTEGER": return random.pick(integers + [.null])
        case "REAL": return random.pick(reals + [.integer(7), .null])
        case "TEXT": return random.pick(texts + [.null])
        case "BLOB": return random.pick(blobs + [.null])
        default: return random.pick(all)
        }
    }

    /// A value for a column of this affinity: mostly of the class the column
    /// suggests, sometimes of any class.
    static func value(for affinity: ColumnAffinity, _ random: inout CaseRandom) -> Value {
        if random.chance(0.35) { return random.pick(all) }
        switch affinity {
        case .integer: return random.pick(integers)
        case .real: return random.pick(reals)
        case .numeric: return random.pick(random.chance(0.5) ? integers : reals)
        case .text: return random.pick(texts)
        case .blob: return random.pick(random.chance(0.5) ? blobs : all)
        }
    }

    /// A key value for a column of this affinity, from the small pool.
    /// `rowid` keys (INTEGER PRIMARY KEY) take integers only, mostly.
    static func key(for affinity: ColumnAffinity, rowid: Bool = false, _ random: inout CaseRandom) -> Value {
        if random.chance(0.02) { return .null }
        if rowid, random.chance(0.95) { return random.pick([.integer(1), .integer(2), .integer(3), .integer(-1), .integer(Int64.max)]) }
        if random.chance(0.3) { return random.pick(keys) }
        switch affinity {
        case .integer, .numeric: return random.pick([.integer(1), .integer(2), .integer(3), .integer(-1), .integer(0)])
        case .real: return random.pick([.real(1.0), .real(2.5), .real(-0.0), .real(0.0), .integer(1)])
        case .text: return random.pick([.text("a"), .text("b"), .text("A"), .text(nfc), .text(nfd), .text("1")])
        case .blob: return random.pick(keys)
        }
    }

    /// `value` as SQL text that SQLite reads back as the same value.
    static func literal(_ value: Value) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let integer): return String(integer)
        case .real(let real):
            // Swift prints the shortest text that reads back to the same bits.
            return real.description
        case .text(let text):
            // SQL text cannot hold a NUL: build such text with char(0).
            guard text.unicodeScalars.contains("\u{0}") else { return SQLText.quoteString(text) }
            let parts = text.unicodeScalars.split(separator: "\u{0}", omittingEmptySubsequences: false)
                .map { SQLText.quoteString(String(String.UnicodeScalarView($0))) }
            return "(" + parts.joined(separator: " || char(0) || ") + ")"
        case .blob(let bytes): return "x'" + Hex.encode(bytes) + "'"
        }
    }
}
