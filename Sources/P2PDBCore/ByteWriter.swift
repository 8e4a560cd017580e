/// Appends the primitives of P2PDB's binary formats to a byte buffer.
///
/// Integers are unsigned LEB128 varints; signed integers are zig-zag encoded
/// first. Strings and byte strings are length-prefixed. See
/// docs/FORMATS.md for the formats built from these.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeByte(_ byte: UInt8) { bytes.append(byte) }

    public mutating func writeBytes<Bytes: Sequence>(_ raw: Bytes) where Bytes.Element == UInt8 {
        bytes.append(contentsOf: raw)
    }

    public mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    public mutating func writeVarint(_ value: Int) { writeVarint(UInt64(value)) }

    public mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func writeUInt64BigEndian(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    public mutating func writeLengthPrefixed<Bytes: Collection>(_ raw: Bytes) where Bytes.Element == UInt8 {
        writeVarint(raw.count)
        bytes.append(contentsOf: raw)
    }

    public mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { writeLengthPrefixed($0) }
    }

    public mutating func writeBytes32(_ value: Bytes32) { value.appendBytes(to: &bytes) }

    /// Value tags: 0 null, 1 integer (zig-zag varint), 2 real (IEEE 754
    /// big-endian), 3 text (UTF-8), 4 blob.
    public mutating func writeValue(_ value: Value) {
        switch value {
        case .null:
            writeByte(0)
        case .integer(let integer):
            writeByte(1)
            writeSignedVarint(integer)
        case .real(let real):
            writeByte(2)
            writeUInt64BigEndian(real.bitPattern)
        case .text(let text):
            writeByte(3)
            writeString(text)
        case .blob(let blob):
            writeByte(4)
            writeLengthPrefixed(blob)
        }
    }
}
