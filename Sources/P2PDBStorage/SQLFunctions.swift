import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore

/// SQL functions P2PDB adds to every connection.
///
/// `uuid()` returns a new version 7 UUID as text: 48 bits of Unix time in
/// milliseconds, then 74 random bits. Keys made with it never collide
/// across replicas, and keys made later sort after earlier ones, which
/// keeps inserts at the end of the table's B-tree.
///
/// ```sql
/// CREATE TABLE sales (id TEXT PRIMARY KEY DEFAULT (uuid()), total REAL);
/// INSERT INTO sales (total) VALUES (9.99);
/// ```
///
/// The value is decided on the node that writes the row and travels in the
/// entry, so every replica stores the same key.
enum SQLFunctions {
    /// Innocuous (no side effects, reveals nothing), so that a DEFAULT may
    /// use it in a replica whose schema is not trusted.
    static func install(on connection: OpaquePointer) throws {
        let code = sqlite3_create_function_v2(
            connection, "uuid", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, nil,
            { context, _, _ in
                let text = UUIDv7.make(milliseconds: UInt64(max(0, Date().timeIntervalSince1970 * 1000)))
                sqlite3_result_text(context, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            }, nil, nil, nil)
        guard code == SQLITE_OK else { throw P2PDBError(.storage, "could not register uuid() (SQLite code \(code))") }
        try LocalWriteRules.installClosedGate(on: connection)
    }
}

/// RFC 9562 version 7 UUIDs.
enum UUIDv7 {
    static func make(milliseconds: UInt64) -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> UInt64(8 * (5 - index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0f)
        bytes[8] = 0x80 | (bytes[8] & 0x3f)
        let hex = Hex.encode(bytes)
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex[hex.index(hex.startIndex, offsetBy: range.lowerBound)..<hex.index(hex.startIndex, offsetBy: range.upperBound)])
        }
        return parts.joined(separator: "-")
    }
}
