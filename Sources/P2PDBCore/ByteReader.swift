/// Reads what ``ByteWriter`` writes, strictly.
///
/// Every read checks bounds, varints must be minimal, and strings must be
/// valid UTF-8, so that one logical value has exactly one encoding and
/// hostile input fails with a ``FormatError`` instead of trapping.
public struct ByteReader {
    private let bytes: [UInt8]
    public private(set) var offset: Int
    private let end: Int

    public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset == end }

    public mutating func readByte() throws(FormatError) -> UInt8 {
        guard offset < end else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBytes(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .truncated }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func readVarint() throws(FormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63 && byte > 1 { throw .malformed("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw .malformed("varint is not minimally encoded") }
                return result
            }
            shift += 7
            if shift > 63 { throw .malformed("varint is too long") }
        }
    }

    /// A varint used as a count or length: must fit what is left to read,
    /// given that each counted item takes at least `minimumItemSize` bytes.
    public mutating func readCount(minimumItemSize: Int = 1) throws(FormatError) -> Int {
        let value = try readVarint()
        guard value <= UInt64(remaining / max(minimumItemSize, 1)) else {
            throw .malformed("count \(value) exceeds the remaining \(remaining) bytes")
        }
        return Int(value)
    }

    public mutating func readSignedVarint() throws(FormatError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func readUInt64BigEndian() throws(FormatError) -> UInt64 {
        var value: UInt64 = 0
        for byte in try readBytes(8) { value = value << 8 | UInt64(byte) }
        return value
    }

    public mutating func readLengthPrefixed() throws(FormatError) -> [UInt8] {
        let count = try readCount()
        return Array(try readBytes(count))
    }

    public mutating func readString() throws(FormatError) -> String {
        let count = try readCount()
        let raw = try readBytes(count)
        guard let string = String(validating: raw, as: UTF8.self) else {
            throw .malformed("string is not valid UTF-8")
        }
        return string
    }

    public mutating func readBytes32() throws(FormatError) -> Bytes32 {
        guard let value = Bytes32(try readBytes(Bytes32.byteCount)) else { throw .truncated }
        return value
    }

    public mutating func readValue() throws(FormatError) -> Value {
        switch try readByte() {
        case 0: return .null
        case 1: return .integer(try readSignedVarint())
        case 2:
            let real = Double(bitPattern: try readUInt64BigEndian())
            guard !real.isNaN else { throw .malformed("real value is NaN") }
            return .real(real)
        case 3: return .text(try readString())
        case 4: return .blob(try readLengthPrefixed())
        case let tag: throw .malformed("unknown value tag \(tag)")
        }
    }

    public func requireEnd() throws(FormatError) {
        guard isAtEnd else { throw .malformed("\(remaining) unexpected trailing bytes") }
    }
}

/// Why bytes could not be decoded.
public enum FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated
    case malformed(String)
    case unsupportedVersion(UInt8)

    public var description: String {
        switch self {
        case .truncated: return "data ends early (truncated)"
        case .malformed(let why): return "malformed data: \(why)"
        case .unsupportedVersion(let version):
            return "format version \(version) is not supported by this build; upgrade p2pdb"
        }
    }
}
