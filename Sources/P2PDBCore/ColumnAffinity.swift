/// SQLite's type affinity, derived from a declared type by SQLite's rules.
public enum ColumnAffinity: Sendable, Equatable {
    case integer, text, blob, real, numeric

    /// The affinity SQLite gives a column declared `declaredType`. In a
    /// STRICT table `ANY` means "store as given", which is BLOB affinity;
    /// elsewhere the same word gives NUMERIC affinity.
    public init(declaredType: String, strict: Bool = false) {
        let type = declaredType.uppercased()
        if strict && type == "ANY" {
            self = .blob
        } else if type.contains("INT") {
            self = .integer
        } else if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") {
            self = .text
        } else if type.contains("BLOB") || type.isEmpty {
            self = .blob
        } else if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") {
            self = .real
        } else {
            self = .numeric
        }
    }

    /// What SQLite stores for `value` in a column of this affinity, as a
    /// SELECT reads it back, when that follows from SQLite's documented
    /// rules alone; nil when SQLite itself must decide (text that may read
    /// as a number, a real turned into text).
    ///
    /// ```swift
    /// ColumnAffinity.real.storedForm(of: .integer(2))      // .real(2.0)
    /// ColumnAffinity.integer.storedForm(of: .real(-0.0))   // .integer(0)
    /// ColumnAffinity.blob.storedForm(of: .real(-0.0))      // .real(-0.0), unchanged
    /// ```
    public func storedForm(of value: Value) -> Value? {
        switch (self, value) {
        case (_, .real(let real)) where real.isNaN:
            // SQLite stores NaN as NULL.
            return .null
        case (_, .null), (_, .blob), (.blob, _):
            return value
        case (.text, .text):
            return value
        case (.text, .integer(let integer)):
            return .text(String(integer))
        case (.text, .real):
            return Optional.none
        case (.real, .integer(let integer)):
            // Stored as an integer, read back through REAL affinity.
            return .real(Double(integer))
        case (.real, .real(let real)):
            // An integral real is stored as an integer and read back as a
            // real: only the sign of zero is lost.
            return real == 0 ? .real(0) : value
        case (.integer, .integer), (.numeric, .integer):
            return value
        case (.integer, .real(let real)), (.numeric, .real(let real)):
            // SQLite keeps a real whose value is an integer strictly inside
            // the 64-bit range as that integer.
            if real.rounded(.towardZero) == real, real > -0x1p63, real < 0x1p63 { return .integer(Int64(real)) }
            return value
        case (_, .text(let text)):
            // Only text that holds a digit can read as a number.
            if text.utf8.contains(where: { (0x30...0x39).contains($0) }) { return Optional.none }
            return value
        }
    }

    /// The value a NOT NULL column of this affinity takes when a change
    /// leaves it unset and it has no literal default.
    public var zero: Value {
        switch self {
        case .integer, .numeric: return .integer(0)
        case .real: return .real(0)
        case .text: return .text("")
        case .blob: return .blob([])
        }
    }
}

/// The storage class a STRICT column (or a rowid key) insists on.
public enum StorageClass: Sendable, Equatable {
    case integer, real, text, blob

    /// The class a STRICT table's column of this declared type holds, nil
    /// for `ANY`; also nil for a type STRICT tables do not know.
    public init?(strictType: String) {
        switch strictType.uppercased() {
        case "INT", "INTEGER": self = .integer
        case "REAL": self = .real
        case "TEXT": self = .text
        case "BLOB": self = .blob
        default: return nil
        }
    }

    /// The declared types a STRICT table accepts.
    public static func isStrictType(_ declaredType: String) -> Bool {
        ["INT", "INTEGER", "REAL", "TEXT", "BLOB", "ANY"].contains(declaredType.uppercased())
    }

    public func holds(_ value: Value) -> Bool {
        switch (self, value) {
        case (_, .null), (.integer, .integer), (.real, .real), (.text, .text), (.blob, .blob): return true
        default: return false
        }
    }
}
