/// The small part of DNS that mDNS/DNS-SD service discovery needs (RFC 1035,
/// RFC 6762, RFC 6763): questions and A, PTR, SRV and TXT records, with name
/// compression understood on the way in. Decoding is strict and bounded: a
/// malformed or hostile packet is an error, never a crash or a loop.
package struct DNSMessage: Equatable {
    enum RecordType: UInt16 {
        case a = 1
        case ptr = 12
        case txt = 16
        case srv = 33
        case any = 255
    }

    struct Question: Equatable {
        var name: String
        var type: UInt16
    }

    enum RecordData: Equatable {
        case a([UInt8])
        case ptr(String)
        case txt([String])
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
        case other(type: UInt16)
    }

    struct Record: Equatable {
        var name: String
        var ttl: UInt32
        var data: RecordData
    }

    package struct DecodingError: Error, Equatable {
        let reason: String
    }

    var id: UInt16 = 0
    var isResponse: Bool
    var questions: [Question] = []
    var answers: [Record] = []

    // MARK: Encoding

    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        Self.append16(&bytes, id)
        Self.append16(&bytes, isResponse ? 0x8400 : 0)  // response + authoritative
        Self.append16(&bytes, UInt16(questions.count))
        Self.append16(&bytes, UInt16(answers.count))
        Self.append16(&bytes, 0)
        Self.append16(&bytes, 0)
        for question in questions {
            Self.appendName(&bytes, question.name)
            Self.append16(&bytes, question.type)
            Self.append16(&bytes, 1)  // IN
        }
        for record in answers {
            Self.appendName(&bytes, record.name)
            var rdata: [UInt8] = []
            let type: UInt16
            switch record.data {
            case .a(let address):
                type = RecordType.a.rawValue
                rdata = address
            case .ptr(let target):
                type = RecordType.ptr.rawValue
                Self.appendName(&rdata, target)
            case .txt(let strings):
                type = RecordType.txt.rawValue
                for string in strings {
                    let utf8 = Array(string.utf8.prefix(255))
                    rdata.append(UInt8(utf8.count))
                    rdata += utf8
                }
            case .srv(let priority, let weight, let port, let target):
                type = RecordType.srv.rawValue
                Self.append16(&rdata, priority)
                Self.append16(&rdata, weight)
                Self.append16(&rdata, port)
                Self.appendName(&rdata, target)
            case .other(let other):
                type = other
            }
            Self.append16(&bytes, type)
            // IN; the cache-flush bit only on unique records (RFC 6762
            // section 10.2), not on the shared PTR of a service type.
            Self.append16(&bytes, type == RecordType.ptr.rawValue ? 0x0001 : 0x8001)
            Self.append16(&bytes, UInt16(record.ttl >> 16))
            Self.append16(&bytes, UInt16(record.ttl & 0xFFFF))
            Self.append16(&bytes, UInt16(rdata.count))
            bytes += rdata
        }
        return bytes
    }

    private static func append16(_ bytes: inout [UInt8], _ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    private static func appendName(_ bytes: inout [UInt8], _ name: String) {
        for label in name.split(separator: ".") {
            let utf8 = Array(label.utf8.prefix(63))
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes.append(0)
    }

    // MARK: Decoding

    init(id: UInt16 = 0, isResponse: Bool, questions: [Question] = [], answers: [Record] = []) {
        self.id = id
        self.isResponse = isResponse
        self.questions = questions
        self.answers = answers
    }

    package init(decoding bytes: [UInt8]) throws(DecodingError) {
        var reader = Reader(bytes: bytes)
        id = try reader.read16()
        let flags = try reader.read16()
        isResponse = flags & 0x8000 != 0
        let questionCount = try reader.read16()
        let answerCount = try reader.read16()
        let authorityCount = try reader.read16()
        let additionalCount = try reader.read16()
        for _ in 0..<questionCount {
            let name = try reader.readName()
            let type = try reader.read16()
            _ = try reader.read16()
            questions.append(Question(name: name, type: type))
        }
        // Additional records carry the SRV, TXT and A records of an answer.
        let recordCount = Int(answerCount) + Int(authorityCount) + Int(additionalCount)
        for _ in 0..<recordCount {
            answers.append(try reader.readRecord())
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func read8() throws(DecodingError) -> UInt8 {
            guard offset < bytes.count else { throw DecodingError(reason: "truncated packet") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func read16() throws(DecodingError) -> UInt16 {
            UInt16(try read8()) << 8 | UInt16(try read8())
        }

        mutating func read32() throws(DecodingError) -> UInt32 {
            UInt32(try read16()) << 16 | UInt32(try read16())
        }

        mutating func readBytes(_ count: Int) throws(DecodingError) -> [UInt8] {
            guard count >= 0, offset + count <= bytes.count else { throw DecodingError(reason: "truncated packet") }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        /// A name, following compression pointers (only backwards, and at
        /// most 32 of them, so that a crafted packet cannot loop).
        mutating func readName() throws(DecodingError) -> String {
            var labels: [String] = []
            var position = offset
            var jumped = false
            var jumps = 0
            var length = 0
            while true {
                guard position < bytes.count else { throw DecodingError(reason: "truncated name") }
                let size = Int(bytes[position])
                if size == 0 {
                    position += 1
                    break
                }
                if size & 0xC0 == 0xC0 {
                    guard position + 1 < bytes.count else { throw DecodingError(reason: "truncated name pointer") }
                    let target = (size & 0x3F) << 8 | Int(bytes[position + 1])
                    guard target < position, jumps < 32 else { throw DecodingError(reason: "bad name compression pointer") }
                    if !jumped { offset = position + 2 }
                    jumped = true
                    jumps += 1
                    position = target
                    continue
                }
                guard size <= 63, position + 1 + size <= bytes.count else { throw DecodingError(reason: "bad name label") }
                labels.append(String(decoding: bytes[(position + 1)...(position + size)], as: UTF8.self))
                length += size + 1
                guard length <= 255 else { throw DecodingError(reason: "name longer than 255 bytes") }
                position += 1 + size
            }
            if !jumped { offset = position }
            return labels.joined(separator: ".")
        }

        mutating func readRecord() throws(DecodingError) -> Record {
            let name = try readName()
            let type = try read16()
            _ = try read16()
            let ttl = try read32()
            let length = Int(try read16())
            let end = offset + length
            guard end <= bytes.count else { throw DecodingError(reason: "record data runs past the packet") }
            let data: RecordData
            switch RecordType(rawValue: type) {
            case .a?:
                guard length == 4 else { throw DecodingError(reason: "A record of \(length) bytes") }
                data = .a(try readBytes(4))
            case .ptr?:
                data = .ptr(try readName())
            case .srv?:
                let priority = try read16()
                let weight = try read16()
                let port = try read16()
                data = .srv(priority: priority, weight: weight, port: port, target: try readName())
            case .txt?:
                var strings: [String] = []
                while offset < end {
                    let size = Int(try read8())
                    guard offset + size <= end else { throw DecodingError(reason: "TXT string runs past its record") }
                    strings.append(String(decoding: try readBytes(size), as: UTF8.self))
                }
                data = .txt(strings)
            default:
                data = .other(type: type)
            }
            guard offset <= end else { throw DecodingError(reason: "record data longer than declared") }
            offset = end
            return Record(name: name, ttl: ttl, data: data)
        }
    }
}
