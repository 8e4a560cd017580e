import Foundation

/// A strict reader of the Prometheus text exposition format (version
/// 0.0.4), for tests: it throws at the first line a scraper could misread.
///
/// Beyond the format itself it requires what `promtool check metrics`
/// lints for: every family has exactly one `# HELP` and one `# TYPE` line,
/// both before its samples; a family's lines are together; counters end in
/// `_total`; no series appears twice; histogram buckets are cumulative and
/// end with `+Inf`, which equals `_count`.
struct PrometheusExposition {
    struct Family {
        var name: String
        var type: String
        var help: String
        var samples: [Sample] = []
    }

    struct Sample {
        /// The sample's own name: the family's, or `_bucket`, `_sum`, `_count` after it.
        var name: String
        var labels: [(name: String, value: String)]
        var value: Double

        func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
    }

    struct Problem: Error, CustomStringConvertible {
        var line: Int
        var text: String
        var reason: String
        var description: String { "line \(line) (\(text)): \(reason)" }
    }

    /// Families by name.
    private(set) var families: [String: Family] = [:]

    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Problem(line: 0, text: "", reason: "the last line has no newline") }
        var help: [String: String] = [:]
        var types: [String: String] = [:]
        var finished = Set<String>()
        var current: String?
        var series = Set<String>()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let fail = { (reason: String) in Problem(line: index + 1, text: String(line), reason: reason) }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#", ["HELP", "TYPE"].contains(parts[1]) else {
                    throw fail("a comment other than HELP or TYPE")
                }
                let name = parts[2]
                guard Self.isMetricName(name) else { throw fail("invalid metric name") }
                guard !finished.contains(name), families[name]?.samples.isEmpty ?? true else {
                    throw fail("HELP or TYPE after the family's samples")
                }
                if current != name, let current { finished.insert(current) }
                current = name
                if parts[1] == "HELP" {
                    guard help[name] == nil else { throw fail("a second HELP line") }
                    let text = parts.count == 4 ? parts[3] : ""
                    guard !text.isEmpty else { throw fail("empty help text") }
                    guard Self.unescape(text, quotes: false) != nil else { throw fail("bad escape in help text") }
                    help[name] = text
                } else {
                    guard types[name] == nil else { throw fail("a second TYPE line") }
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw fail("unknown type")
                    }
                    if parts[3] == "counter", !name.hasSuffix("_total") { throw fail("a counter whose name does not end in _total") }
                    types[name] = parts[3]
                }
                continue
            }
            guard !line.isEmpty else { throw fail("an empty line") }
            let sample = try Self.sample(String(line), fail)
            let family = Self.family(of: sample.name, types: types)
            guard let type = types[family] else { throw fail("a sample with no TYPE line before it") }
            guard let helpText = help[family] else { throw fail("a sample with no HELP line before it") }
            guard !finished.contains(family), current == family else { throw fail("the family's lines are not together") }
            switch type {
            case "histogram":
                guard sample.name != family else { throw fail("a histogram sample without _bucket, _sum or _count") }
                if sample.name == family + "_bucket" {
                    guard let bound = sample.label("le"), bound == "+Inf" || Double(bound) != nil else { throw fail("a bucket without le") }
                }
            default:
                guard sample.name == family else { throw fail("a sample named apart from its \(type) family") }
            }
            let key = sample.name + "{" + sample.labels.map { "\($0.name)=\($0.value)" }.sorted().joined(separator: ",") + "}"
            guard series.insert(key).inserted else { throw fail("a series seen twice") }
            families[family, default: Family(name: family, type: type, help: helpText)].samples.append(sample)
        }
        for (name, type) in types where families[name] == nil {
            throw Problem(line: 0, text: name, reason: "a \(type) family without samples")
        }
        for family in families.values where family.type == "histogram" { try Self.checkBuckets(family) }
    }

    subscript(name: String) -> Family? { families[name] }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "_" || first == ":" else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || (48...57).contains($0.value) || $0 == "_" || $0 == ":") }
    }

    static func isLabelName(_ name: String) -> Bool {
        isMetricName(name) && !name.contains(":") && !name.hasPrefix("__")
    }

    /// The family a sample belongs to: a histogram's `_bucket`, `_sum` and
    /// `_count` belong to the histogram.
    private static func family(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" { return base }
        }
        return name
    }

    private static func sample(_ line: String, _ fail: (String) -> Problem) throws -> Sample {
        let scalars = Array(line.unicodeScalars)
        var index = 0
        while index < scalars.count, scalars[index] != "{", scalars[index] != " " { index += 1 }
        let name = String(String.UnicodeScalarView(scalars[0..<index]))
        guard isMetricName(name) else { throw fail("invalid metric name") }
        var labels: [(name: String, value: String)] = []
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while true {
                guard index < scalars.count else { throw fail("unterminated labels") }
                if scalars[index] == "}" { break }
                var end = index
                while end < scalars.count, scalars[end] != "=" { end += 1 }
                let label = String(String.UnicodeScalarView(scalars[index..<end]))
                guard isLabelName(label) else { throw fail("invalid label name \(label)") }
                guard !labels.contains(where: { $0.name == label }) else { throw fail("label \(label) twice") }
                guard end + 1 < scalars.count, scalars[end + 1] == "\"" else { throw fail("label value not quoted") }
                var cursor = end + 2
                var raw = ""
                while cursor < scalars.count, scalars[cursor] != "\"" {
                    if scalars[cursor] == "\\" {
                        guard cursor + 1 < scalars.count else { throw fail("unterminated escape") }
                        raw.unicodeScalars.append(scalars[cursor])
                        cursor += 1
                    }
                    raw.unicodeScalars.append(scalars[cursor])
                    cursor += 1
                }
                guard cursor < scalars.count else { throw fail("unterminated label value") }
                guard let value = unescape(raw, quotes: true) else { throw fail("bad escape in the value of \(label)") }
                labels.append((label, value))
                index = cursor + 1
                guard index < scalars.count else { throw fail("unterminated labels") }
                if scalars[index] == "," {
                    index += 1
                } else if scalars[index] != "}" {
                    throw fail("labels not separated by commas")
                }
            }
            index += 1
        }
        guard index < scalars.count, scalars[index] == " " else { throw fail("no value") }
        let rest = String(String.UnicodeScalarView(scalars[(index + 1)...])).split(separator: " ", omittingEmptySubsequences: false)
        guard (1...2).contains(rest.count), let value = number(String(rest[0])) else { throw fail("the value is not a number") }
        if rest.count == 2, Int64(rest[1]) == nil { throw fail("the timestamp is not an integer") }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return text.allSatisfy({ "0123456789+-.eE".contains($0) }) ? Double(text) : nil
        }
    }

    /// The text with its escapes resolved: `\\`, `\n`, and in label values
    /// `\"`; nil for any other escape, or a bare quote in a label value.
    static func unescape(_ text: String, quotes: Bool) -> String? {
        var result = ""
        var escaped = false
        for character in text {
            if escaped {
                switch character {
                case "\\": result.append("\\")
                case "n": result.append("\n")
                case "\"" where quotes: result.append("\"")
                default: return nil
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" && quotes {
                return nil
            } else {
                result.append(character)
            }
        }
        return escaped ? nil : result
    }

    private static func checkBuckets(_ family: Family) throws {
        var groups: [String: [(bound: Double, count: Double)]] = [:]
        var counts: [String: Double] = [:]
        for sample in family.samples {
            let key = sample.labels.filter { $0.name != "le" }.map { "\($0.name)=\($0.value)" }.sorted().joined(separator: ",")
            if sample.name == family.name + "_bucket", let bound = sample.label("le").flatMap(number) {
                groups[key, default: []].append((bound, sample.value))
            } else if sample.name == family.name + "_count" {
                counts[key] = sample.value
            }
        }
        for (key, buckets) in groups {
            let fail = { (reason: String) in Problem(line: 0, text: "\(family.name){\(key)}", reason: reason) }
            let sorted = buckets.sorted { $0.bound < $1.bound }
            guard sorted.last?.bound == .infinity else { throw fail("no +Inf bucket") }
            guard zip(sorted, sorted.dropFirst()).allSatisfy({ $0.count <= $1.count }) else { throw fail("buckets not cumulative") }
            guard counts[key] == sorted.last?.count else { throw fail("_count differs from the +Inf bucket") }
        }
    }
}
