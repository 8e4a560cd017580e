/// An SQL identifier as SQLite compares it: its UTF-8 bytes, with the ASCII
/// letters folded to lower case and nothing else changed.
///
/// `Items` and `ITEMS` name one table; `café` written in NFC and in NFD are
/// two names, as they are to SQLite. Swift's `String` equality would merge
/// the latter (it compares canonical equivalents as equal), which is why
/// every lookup of a table, column or index goes through this key.
///
/// ```swift
/// IdentifierKey("Items") == IdentifierKey("items")                  // true
/// IdentifierKey("caf\u{E9}") == IdentifierKey("cafe\u{301}")         // false
/// ```
public struct IdentifierKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ name: String) {
        bytes = name.utf8.map { (0x41...0x5a).contains($0) ? $0 | 0x20 : $0 }
    }

    /// The key as text, for storing in SQLite (which compares TEXT by its
    /// bytes, so it keeps the distinction).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var description: String { text }

    /// Byte order, the order SQLite's BINARY collation gives.
    public static func < (lhs: IdentifierKey, rhs: IdentifierKey) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    public func hasPrefix(_ prefix: String) -> Bool {
        bytes.starts(with: IdentifierKey(prefix).bytes)
    }

    public var isEmpty: Bool { bytes.isEmpty }
}
