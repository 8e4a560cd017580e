import Foundation

extension Value {
    /// The JSON form used by the CLI and the HTTP API: integers and reals
    /// as numbers, text as strings, NULL as null, blobs as
    /// `{"base64": "..."}`.
    public var json: JSON {
        switch self {
        case .null: return .null
        case .integer(let value): return .number(String(value))
        case .real(let value):
            if value.isNaN { return .null }
            if value.isInfinite { return .number(value > 0 ? "1e999" : "-1e999") }
            let text = String(value)
            return .number(text.contains(where: { $0 == "." || $0 == "e" }) ? text : text + ".0")
        case .text(let value): return .string(value)
        case .blob(let bytes): return .object([("base64", .string(Data(bytes).base64EncodedString()))])
        }
    }

    /// Reads the JSON form. A number without fraction or exponent is an
    /// integer when it fits 64 bits; booleans become 1 and 0.
    public init(json: JSON) throws(P2PDBError) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .integer(value ? 1 : 0)
        case .number(let text):
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let integer = Int64(text) {
                self = .integer(integer)
            } else if let real = Double(text) {
                self = .real(real)
            } else {
                throw P2PDBError(.invalidInput, "number \(text) is out of range")
            }
        case .string(let text): self = .text(text)
        case .object(let members):
            guard members.count == 1, members[0].0 == "base64", case .string(let encoded) = members[0].1 else {
                throw P2PDBError(.invalidInput, "an object value must be {\"base64\": \"...\"} (a blob)")
            }
            guard let data = Data(base64Encoded: encoded) else {
                throw P2PDBError(.invalidInput, "blob is not valid base64")
            }
            self = .blob(Array(data))
        case .array:
            throw P2PDBError(.invalidInput, "an array is not a SQL value")
        }
    }
}

/// `Codable` in the same JSON form, so that a `Value` can sit in a record
/// (``RowDecoder`` and ``ValueEncoder`` take it as is) or in a value stored
/// as JSON.
extension Value: Codable {
    private enum BlobKey: String, CodingKey { case base64 }

    public func encode(to encoder: any Encoder) throws {
        if case .blob(let bytes) = self {
            var container = encoder.container(keyedBy: BlobKey.self)
            return try container.encode(Data(bytes).base64EncodedString(), forKey: .base64)
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let value): try container.encode(value)
        case .real(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        case .blob: break
        }
    }

    public init(from decoder: any Decoder) throws {
        if let blob = try? decoder.container(keyedBy: BlobKey.self), blob.contains(.base64) {
            let encoded = try blob.decode(String.self, forKey: .base64)
            guard let data = Data(base64Encoded: encoded) else {
                throw DecodingError.dataCorruptedError(forKey: .base64, in: blob, debugDescription: "blob is not valid base64")
            }
            self = .blob(Array(data))
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let integer = try? container.decode(Int64.self) {
            self = .integer(integer)
        } else if let real = try? container.decode(Double.self) {
            self = .real(real)
        } else {
            self = .text(try container.decode(String.self))
        }
    }
}
