import P2PDBCore
import PropertyBased
import Testing

@Suite("Binary encoding")
struct EncodingTests {
    @Test("varints round-trip at every width", arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintRoundTrip(_ value: UInt64) throws {
        var writer = ByteWriter()
        writer.writeVarint(value)
        var reader = ByteReader(writer.bytes)
        #expect(try reader.readVarint() == value)
        #expect(reader.isAtEnd)
    }

    @Test func signedVarintsRoundTrip() async {
        await propertyCheck(input: Gen.int64()) { (value: Int64) throws in
            var writer = ByteWriter()
            writer.writeSignedVarint(value)
            var reader = ByteReader(writer.bytes)
            #expect(try reader.readSignedVarint() == value)
        }
    }

    @Test func nonMinimalVarintIsRejected() {
        var reader = ByteReader([0x80, 0x00])
        #expect(throws: FormatError.malformed("varint is not minimally encoded")) { try reader.readVarint() }
    }

    @Test func truncatedInputIsRejected() {
        var reader = ByteReader([0x80])
        #expect(throws: FormatError.truncated) { try reader.readVarint() }
        var strings = ByteReader([0x05, 0x61])
        #expect(throws: FormatError.self) { try strings.readString() }
    }

    @Test func valuesRoundTrip() throws {
        let values: [Value] = [.null, .integer(0), .integer(-1), .integer(.max), .integer(.min), .real(1.5), .real(-0.0),
                               .real(.infinity), .text(""), .text("héllo 🍎"), .blob([]), .blob([0, 1, 255])]
        var writer = ByteWriter()
        for value in values { writer.writeValue(value) }
        var reader = ByteReader(writer.bytes)
        for value in values { #expect(try reader.readValue() == value) }
        #expect(reader.isAtEnd)
    }

    @Test func invalidUTF8TextIsRejected() {
        var reader = ByteReader([3, 2, 0xff, 0xfe])
        #expect(throws: FormatError.malformed("string is not valid UTF-8")) { try reader.readValue() }
    }

    @Test func realsCompareByBitPattern() {
        #expect(Value.real(0.0) != Value.real(-0.0))
        #expect(Value.integer(1) != Value.real(1.0))
    }
}
