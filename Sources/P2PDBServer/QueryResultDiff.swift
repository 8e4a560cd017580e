import P2PDB

/// How a query's result changed between two runs: the rows that entered it,
/// changed in it and left it.
///
/// With key columns (the columns that name a row, usually the primary key),
/// a row whose key stays but whose other values differ has changed. Without
/// them, or when the key repeats within a result, rows are compared whole:
/// a changed row leaves in its old form and enters in its new one.
struct QueryResultDiff: Equatable, Sendable {
    var entered: [[Value]] = []
    var changed: [[Value]] = []
    var left: [[Value]] = []

    var isEmpty: Bool { entered.isEmpty && changed.isEmpty && left.isEmpty }

    init(from old: [[Value]], to new: [[Value]], keyColumns: [Int]) {
        if !keyColumns.isEmpty, let before = Self.byKey(old, keyColumns), let after = Self.byKey(new, keyColumns) {
            for row in new {
                switch before[keyColumns.map { row[$0] }] {
                case nil: entered.append(row)
                case let previous? where previous != row: changed.append(row)
                default: break
                }
            }
            left = old.filter { row in after[keyColumns.map { row[$0] }] == nil }
            return
        }
        var remaining = Dictionary(old.map { ($0, 1) }, uniquingKeysWith: +)
        for row in new {
            if let count = remaining[row], count > 0 {
                remaining[row] = count - 1
            } else {
                entered.append(row)
            }
        }
        left = old.filter { row in
            guard let count = remaining[row], count > 0 else { return false }
            remaining[row] = count - 1
            return true
        }
    }

    /// Each row by its key; nil when a key repeats.
    private static func byKey(_ rows: [[Value]], _ columns: [Int]) -> [[Value]: [Value]]? {
        var keyed: [[Value]: [Value]] = [:]
        for row in rows {
            guard columns.allSatisfy({ $0 < row.count }) else { return nil }
            let key = columns.map { row[$0] }
            guard keyed.updateValue(row, forKey: key) == nil else { return nil }
        }
        return keyed
    }
}
