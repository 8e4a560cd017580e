/// A file of entries that moves a log between replicas with no network.
///
/// Layout (docs/FORMATS.md): the magic `P2PDB-BUNDLE`, a version byte, a
/// varint entry count, each entry length-prefixed, then the SHA-256 of all
/// preceding bytes. The trailing digest catches truncation and corruption
/// before any entry is looked at; each entry's own signature catches forgery.
public enum BundleCodec {
    public static let magic: [UInt8] = Array("P2PDB-BUNDLE".utf8)
    public static let version: UInt8 = 1

    public static func encode(_ entries: [[UInt8]]) -> [UInt8] {
        var writer = ByteWriter(capacity: entries.reduce(64) { $0 + $1.count + 5 })
        writer.writeBytes(magic)
        writer.writeByte(version)
        writer.writeVarint(entries.count)
        for entry in entries { writer.writeLengthPrefixed(entry) }
        let digest = Signatures.sha256(writer.bytes)
        writer.writeBytes32(digest)
        return writer.bytes
    }

    /// The entries' bytes, in file order.
    public static func decode(_ bytes: [UInt8]) throws(P2PDBError) -> [[UInt8]] {
        guard bytes.count >= magic.count + 1 + 1 + Bytes32.byteCount else {
            throw P2PDBError(.corrupt, "bundle is truncated: \(bytes.count) bytes is too short")
        }
        guard Array(bytes.prefix(magic.count)) == magic else {
            throw P2PDBError(.corrupt, "not a P2PDB bundle (bad magic bytes)")
        }
        let bodyEnd = bytes.count - Bytes32.byteCount
        guard Bytes32(bytes[bodyEnd...]) == Signatures.sha256(bytes[..<bodyEnd]) else {
            throw P2PDBError(.corrupt, "bundle checksum does not match: the file is truncated or corrupted")
        }
        var reader = ByteReader(bytes, offset: magic.count, end: bodyEnd)
        do {
            let fileVersion = try reader.readByte()
            guard fileVersion == version else { throw FormatError.unsupportedVersion(fileVersion) }
            let count = try reader.readCount()
            var entries: [[UInt8]] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try reader.readLengthPrefixed()) }
            try reader.requireEnd()
            return entries
        } catch {
            throw P2PDBError(.corrupt, "bundle is malformed: \(error)")
        }
    }
}
