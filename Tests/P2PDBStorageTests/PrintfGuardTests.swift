import GRDB
import P2PDBCore
@testable import P2PDBStorage
import Testing

/// printf() and format() on a replica: SQLite's own results, but a character
/// repeated past the length limit answers at once instead of running for
/// seconds inside one call, where no deadline can reach it.
@Suite("printf and format")
struct PrintfGuardTests {
    @Test func aCharacterRepeatedPastTheLengthLimitIsNullAtOnce() async throws {
        // Without the guard each call runs about 10 s, past the deadline.
        let replica = try TestReplica(limits: StatementLimits(timeout: .seconds(1)))
        for sql in [
            "SELECT length(printf('%.*c', 2000000000, 'a'))", "SELECT format('%.2000000000c', 'b')",
            "SELECT printf('x%-5.*c', -2147483647, 'c')", "SELECT printf('%d %.*c %s', 1, 1000000000, 'é', 'z')",
        ] {
            #expect(try await replica.rows(sql) == [[.null]], "\(sql)")
        }
        // Within the limit, the character is repeated as SQLite does.
        #expect(try await replica.rows("SELECT length(printf('%.*c', 1000, 'é'))") == [[.integer(1000)]])
    }

    /// Random formats and arguments, on a replica and on plain SQLite.
    @Test func randomFormatsGiveWhatSQLiteGives() async throws {
        let replica = try TestReplica()
        let plain = try DatabaseQueue()
        var random = SeededGenerator(seed: 20_261_204)
        let conversions = Array("diuxXopfeEgGGszqQwcnrTS%k")
        let arguments: [Value] = [
            .null, .integer(0), .integer(-7), .integer(42), .integer(Int64.max), .integer(Int64.min), .real(-0.0), .real(3.25),
            .real(1e300), .real(-2.5e-7), .text(""), .text("abc"), .text("é漢"), .text("it's"), .blob([0x41, 0x00, 0xFF]), .integer(-2147483648),
        ]
        for _ in 0..<600 {
            var format = ""
            for _ in 0..<random.below(4) {
                format += ["", "x", " ", "é", "%%"][random.below(5)]
                format += "%"
                for _ in 0..<random.below(3) { format.append(Array("-+ #!0,")[random.below(7)]) }
                switch random.below(4) {
                case 0: format += String(random.below(30))
                case 1: format += "*"
                default: break
                }
                switch random.below(4) {
                case 0: format += "." + String(random.below(30))
                case 1: format += ".*"
                default: break
                }
                format += ["", "", "l", "ll"][random.below(4)]
                format.append(conversions[random.below(conversions.count)])
            }
            let values = [.text(format)] + (0..<random.below(6)).map { _ in
                random.below(4) == 0 ? Value.integer(Int64(random.below(60)) - 20) : arguments[random.below(arguments.count)]
            }
            // Compared as hex: a result may hold a NUL (%c of NULL).
            let sql = "SELECT typeof(p), hex(p) FROM (SELECT printf(\((1...values.count).map { "?\($0)" }.joined(separator: ", "))) AS p)"
            let expected = try await plain.read { db in
                try Row.fetchOne(db, sql: sql, arguments: StatementArguments(values.map(\.databaseValue))).map { [Self.value($0[0]), Self.value($0[1])] }
            }
            let got = try await replica.rows(sql, values)
            #expect(got == [expected ?? []], "\(values)")
        }
    }

    static func value(_ value: DatabaseValue) -> Value {
        switch value.storage {
        case .null: .null
        case .int64(let integer): .integer(integer)
        case .double(let real): .real(real)
        case .string(let text): .text(text)
        case .blob(let data): .blob(Array(data))
        }
    }
}

extension SeededGenerator {
    /// A number below `bound`, for reproducible cases.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
