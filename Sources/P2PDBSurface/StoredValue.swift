import P2PDB

/// A value compared as SQLite stores it: by storage class, then bit for bit.
///
/// `Value`'s own equality compares text as Swift strings, for which NFC
/// "café" and NFD "café" are equal; SQLite stores and compares their bytes,
/// so here text compares by its UTF-8 bytes. Reals compare by bit pattern
/// (-0.0 is not 0.0), and 1 is not 1.0.
struct StoredValue: Hashable, Comparable, Sendable, CustomStringConvertible {
    let value: Value
    private let storageClass: UInt8
    private let bytes: [UInt8]

    init(_ value: Value) {
        self.value = value
        switch value {
        case .null: (storageClass, bytes) = (0, [])
        case .integer(let integer): (storageClass, bytes) = (1, Self.bigEndian(UInt64(bitPattern: integer)))
        case .real(let real): (storageClass, bytes) = (2, Self.bigEndian(real.bitPattern))
        case .text(let text): (storageClass, bytes) = (3, Array(text.utf8))
        case .blob(let blob): (storageClass, bytes) = (4, blob)
        }
    }

    private static func bigEndian(_ word: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: word >> (56 - 8 * $0)) } }

    static func == (lhs: StoredValue, rhs: StoredValue) -> Bool { lhs.storageClass == rhs.storageClass && lhs.bytes == rhs.bytes }

    func hash(into hasher: inout Hasher) {
        hasher.combine(storageClass)
        hasher.combine(bytes)
    }

    static func < (lhs: StoredValue, rhs: StoredValue) -> Bool {
        if lhs.storageClass != rhs.storageClass { return lhs.storageClass < rhs.storageClass }
        return lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// The value with its storage class, unambiguous: non-ASCII characters
    /// and NUL are escaped (NFC `caf\u{E9}`, NFD `cafe\u{301}`).
    var description: String {
        switch value {
        case .null: return "NULL"
        case .integer(let integer): return String(integer)
        case .real(let real): return real.description + " (real)"
        case .text(let text): return "'" + Self.escaped(text).replacingOccurrences(of: "'", with: "''") + "'"
        case .blob(let blob): return "x'" + Hex.encode(blob) + "'"
        }
    }

    /// `text` with NUL, control and non-ASCII characters as `\u{...}`.
    static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII, scalar.value >= 0x20, scalar.value != 0x7F {
                result.unicodeScalars.append(scalar)
            } else {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return result
    }
}

extension Array where Element == StoredValue {
    var rowDescription: String { "(" + map(\.description).joined(separator: ", ") + ")" }
}
