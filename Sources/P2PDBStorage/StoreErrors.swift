import GRDB
import P2PDBCore

/// Turns what SQLite, GRDB and the decoders throw into ``P2PDBError``.
enum StoreErrors {
    static func map(_ error: any Error) -> P2PDBError {
        switch error {
        case let error as P2PDBError:
            return error
        case let error as DatabaseError:
            let message = error.message ?? "SQLite error \(error.resultCode.rawValue)"
            switch error.resultCode {
            case .SQLITE_CONSTRAINT, .SQLITE_MISMATCH:
                return P2PDBError(.constraint, message)
            case .SQLITE_ERROR, .SQLITE_SCHEMA:
                // SQLite reports some refusals of the parser (a name kept
                // for its own use) as a schema that kept changing.
                return P2PDBError(.invalidSQL, message)
            case .SQLITE_MISUSE, .SQLITE_RANGE:
                return P2PDBError(message.contains("argument") ? .invalidParameters : .invalidSQL, message)
            case .SQLITE_AUTH, .SQLITE_READONLY:
                return P2PDBError(.refused, message)
            case .SQLITE_NOMEM:
                return P2PDBError(
                    .busy, "SQLite reached the node's memory limit (--max-sqlite-memory) while running this; retry shortly, or ask for less at once")
            case .SQLITE_TOOBIG:
                return P2PDBError(.invalidInput, message)
            case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_INTERRUPT:
                return P2PDBError(.unavailable, message)
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                // The file itself is damaged: `verify` and exit status 4.
                return P2PDBError(.corrupt, message)
            default:
                return P2PDBError(.storage, message)
            }
        case let error as FormatError:
            return P2PDBError(.corrupt, error.description)
        case let error as EntryError:
            return P2PDBError(.corrupt, error.description)
        case let error as KeyError:
            return P2PDBError(.corrupt, error.description)
        default:
            return P2PDBError(.storage, String(describing: error))
        }
    }
}
