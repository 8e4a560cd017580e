import Foundation
import GRDB
import GRDBSQLite
import P2PDBCore

extension Value {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let value): return value.databaseValue
        case .real(let value): return value.databaseValue
        case .text(let value): return value.databaseValue
        case .blob(let bytes): return Data(bytes).databaseValue
        }
    }

    /// Reads an `sqlite3_value*`. Returns nil for text that is not valid
    /// UTF-8, which P2PDB refuses to replicate (it could not be compared or
    /// printed the same way everywhere).
    init?(sqliteValue value: OpaquePointer) {
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER:
            self = .integer(sqlite3_value_int64(value))
        case SQLITE_FLOAT:
            self = .real(sqlite3_value_double(value))
        case SQLITE_TEXT:
            guard let text = sqlite3_value_text(value) else { self = .text(""); return }
            let count = Int(sqlite3_value_bytes(value))
            guard let string = String(validating: UnsafeBufferPointer(start: text, count: count), as: UTF8.self) else {
                return nil
            }
            self = .text(string)
        case SQLITE_BLOB:
            let count = Int(sqlite3_value_bytes(value))
            guard count > 0, let blob = sqlite3_value_blob(value) else { self = .blob([]); return }
            self = .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default:
            self = .null
        }
    }
}

extension StatementArguments {
    init(values: [P2PDBCore.Value]) {
        self.init(values.map(\.databaseValue))
    }
}
