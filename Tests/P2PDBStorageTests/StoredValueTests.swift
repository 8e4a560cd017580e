import Foundation
import GRDB
import P2PDBCore
@testable import P2PDBStorage
import Testing

/// The one form of a value (what SQLite stores) must be what SQLite really
/// stores, for values of every storage class in columns of every affinity.
@Suite("Stored form of values")
struct StoredValueTests {
    static let affinities: [(ColumnAffinity, String)] = [(.integer, "INTEGER"), (.numeric, "NUMERIC"), (.real, "REAL"), (.text, "TEXT"), (.blob, "")]

    static func values(_ random: inout SeededGenerator) -> [Value] {
        var values: [Value] = [
            .null, .integer(0), .integer(-1), .integer(.min), .integer(.max), .integer(1 << 53 + 1), .integer(-(1 << 53) - 3),
            .real(0), .real(-0.0), .real(2), .real(0.5), .real(1e308), .real(-1e-300), .real(0x1p63), .real(-0x1p63),
            .real(.infinity), .real(-.infinity), .real(.nan), .real(9_007_199_254_740_993), .real(123_456_789_012_345_678),
            .text(""), .text("a\u{0}b"), .text("1"), .text(" 5 "), .text("1e5"), .text("0x10"), .text("-0"), .text("1.0"),
            .text("9223372036854775808"), .text("1e400"), .text("abc"), .text("caf\u{E9}"), .text("12abc"), .text(".5"),
            .blob([]), .blob([0, 1, 0]),
        ]
        for _ in 0..<300 {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: values.append(.integer(Int64.random(in: .min ... .max, using: &random)))
            case 1: values.append(.real(Double(bitPattern: UInt64.random(in: 0 ... .max, using: &random))))
            case 2: values.append(.real(Double(Int64.random(in: -1_000_000...1_000_000, using: &random)) / [1, 2, 10, 1000][Int.random(in: 0..<4, using: &random)]))
            default: values.append(.text(String(Double(Int.random(in: -10_000...10_000, using: &random)) / 8)))
            }
        }
        return values
    }

    @Test func storedFormsAreWhatSQLiteStores() throws {
        var random = SeededGenerator(seed: 42)
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (i INTEGER, n NUMERIC, r REAL, x TEXT, b)")
            let insert = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)")
            let select = try db.makeStatement(sql: "SELECT i, n, r, x, b FROM t")
            for value in Self.values(&random) {
                try db.execute(sql: "DELETE FROM t")
                try insert.runRaw(Array(repeating: value, count: 5))
                let stored = try #require(try select.firstRowRaw([]))
                for (column, (affinity, _)) in Self.affinities.enumerated() {
                    let expected = stored[column]
                    if let fast = affinity.storedForm(of: value) {
                        #expect(fast == expected, "\(value) in \(affinity): rules say \(fast), SQLite stores \(expected)")
                    }
                    #expect(StoredValues.stored(value, affinity: affinity) == expected, "\(value) in \(affinity)")
                }
            }
        }
    }

    @Test func strictAnyStoresValuesAsGiven() {
        #expect(ColumnAffinity(declaredType: "ANY", strict: true) == .blob)
        #expect(ColumnAffinity(declaredType: "ANY") == .numeric)
        #expect(StoredValues.stored(.text("5"), affinity: ColumnAffinity(declaredType: "ANY", strict: true)) == .text("5"))
    }
}
