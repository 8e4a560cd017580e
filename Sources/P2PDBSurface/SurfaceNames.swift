import P2PDB

/// The identifiers a case uses: mixed case, embedded quotes, spaces,
/// keywords, non-ASCII letters in both Unicode normalisations, and now and
/// then names SQLite takes that P2PDB may not (empty, over 1024 bytes).
enum SurfaceNames {
    static let tables = [
        "items", "Orders", "kv", "t", "a b", "we\"ird", "it's", SurfaceValues.nfc, SurfaceValues.nfd, "Ünïcode", "数据",
        "select", "T2",
    ]
    static let columns = [
        "id", "k", "v", "nom", "Price", "qty", "a b", "x\"y", "it's", SurfaceValues.nfc, SurfaceValues.nfd, "ñ", "Valeur",
        "when", "datum", "c7", "rowid",
    ]
    /// Index names; some are table names, which SQLite keeps in the same
    /// namespace as indexes.
    static let indexes = ["idx_a", "by_v", "Idx", "items", "kv", "t", SurfaceValues.nfc]
    /// Names SQLite accepts and P2PDB's entry format may not.
    static let odd = ["", String(repeating: "n", count: 1100)]

    /// Every name a case may write, for taking names out of messages.
    static let all = tables + columns + indexes + odd + [
        "hits", "Hits", "n", "extra", "Z", "pk", "renamed", "tr", "tmp", "nokey", "uniq", "chk", "fk", "gen", "copy",
        "_p2pdb_mine", "sqlite_mine", "_p2pdb_rows", "no such column", "missing", "stamp", "Audit", "on_sale", "ref", "Ref2", "fk_3",
        "ref5", "v", "V", "report",
    ]

    /// A name as SQLite compares names: its bytes, ASCII letters folded.
    /// (Swift's `String` equality would take NFC and NFD text as equal.)
    static func key(_ name: String) -> [UInt8] { SQLText.key(name).bytes }

    /// Names that may stand unquoted: plain ASCII words that are no keyword.
    private static let bare: Set<String> = [
        "items", "Orders", "kv", "t", "T2", "id", "k", "v", "nom", "Price", "qty", "datum", "c7", "Valeur", "idx_a", "by_v", "Idx",
        "rowid",
    ]

    /// `name` as SQL: mostly double-quoted, sometimes bare or bracketed,
    /// sometimes with its ASCII letters in another case (SQLite matches
    /// names ASCII case-insensitively).
    static func sql(_ name: String, _ random: inout CaseRandom) -> String {
        let spelled = random.chance(0.2) ? flippingCase(name, &random) : name
        if bare.contains(name), random.chance(0.4) { return spelled }
        if random.chance(0.05), !name.contains("]") { return "[" + spelled + "]" }
        return SQLText.quoteIdentifier(spelled)
    }

    private static func flippingCase(_ name: String, _ random: inout CaseRandom) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            guard scalar.isASCII, scalar.properties.isAlphabetic, random.chance(0.5) else {
                scalars.append(scalar)
                continue
            }
            let flipped = scalar.value ^ 0x20
            scalars.append(Unicode.Scalar(flipped) ?? scalar)
        }
        return String(scalars)
    }
}
