/// SQLite's type affinity, derived from a declared type by SQLite's rules.
public enum ColumnAffinity: Sendable, Equatable {
    case integer, text, blob, real, numeric

    public init(declaredType: String) {
        let type = declaredType.uppercased()
        if type.contains("INT") {
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

    /// False when SQLite is certain to store `value` unchanged in a column
    /// of this affinity; true when it may convert it (a number into a TEXT
    /// column, text into a numeric one).
    public func mayConvert(_ value: Value) -> Bool {
        switch (self, value) {
        case (_, .null), (_, .blob), (.blob, _): return false
        case (.text, .text): return false
        case (.text, _): return true
        case (.integer, .integer), (.numeric, .integer), (.real, .real): return false
        default: return true
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

extension ColumnDefinition {
    /// The DEFAULT as a value when it is a literal; NULL otherwise. Before
    /// the column's affinity is applied: `DEFAULT '5'` gives the text '5'.
    public var literalDefault: Value {
        guard let defaultSQL, let value = SQLText.literalValue(ofDefault: defaultSQL) else { return .null }
        return value
    }
}
