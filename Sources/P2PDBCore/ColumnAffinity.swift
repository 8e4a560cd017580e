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
    /// The DEFAULT as a value when it is a literal; NULL otherwise.
    ///
    /// A cell equal to its column's literal default is left out of the row
    /// digest, so that adding a column (whose default SQLite requires to be
    /// a literal) leaves every existing row digest unchanged.
    public var literalDefault: Value {
        guard let defaultSQL, let value = SQLText.literalValue(ofDefault: defaultSQL) else { return .null }
        return value
    }

    /// What a column holds when a replicated change creates its row without
    /// a value for it: the literal default, else NULL, else (NOT NULL) zero.
    /// Never an expression such as CURRENT_TIMESTAMP, which would differ
    /// between replicas.
    public var fillValue: Value {
        let value = literalDefault
        if value.isNull && notNull { return ColumnAffinity(declaredType: declaredType).zero }
        return value
    }
}
