import Foundation
import P2PDB
import Testing

/// `NodeMetric.all`, the one list of the node's metrics, against the rules
/// of Prometheus names and against FORMATS.md §7.8, which documents it.
@Suite("Metric catalog")
struct MetricCatalogTests {
    @Test func namesAreValidUniqueAndCountersEndInTotal() {
        #expect(Set(NodeMetric.all.map(\.name)).count == NodeMetric.all.count)
        for metric in NodeMetric.all {
            #expect(metric.name.wholeMatch(of: /p2pdb_[a-z0-9_]+/) != nil, "\(metric.name)")
            #expect((metric.kind == .counter) == metric.name.hasSuffix("_total"), "\(metric.name)")
            #expect(!metric.help.isEmpty && !metric.help.contains("\n") && !metric.help.contains("\\"), "\(metric.name)")
            #expect(metric.labels.allSatisfy { $0.wholeMatch(of: /[a-z][a-z0-9_]*/) != nil && $0 != "le" }, "\(metric.name)")
            #expect(NodeMetric.named(metric.name) == metric)
        }
        #expect(NodeMetric.named("p2pdb_unknown_total") == nil)
    }

    @Test func formatsDocumentsEveryMetricWithItsTypeAndLabels() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let text = try String(contentsOf: root.appendingPathComponent("docs/FORMATS.md"), encoding: .utf8)
        let start = try #require(text.range(of: "### 7.8 `GET /metrics`"))
        let end = try #require(text.range(of: "### 7.9", range: start.upperBound..<text.endIndex))
        let rows = text[start.upperBound..<end.lowerBound].split(separator: "\n").filter { $0.hasPrefix("| `p2pdb_") }
        var documented = Set<String>()
        for row in rows {
            let cells = row.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let names = cells[1].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }
            for name in names {
                documented.insert(name)
                let metric = try #require(NodeMetric.named(name), "FORMATS.md documents \(name), which the node does not export")
                #expect(cells[2] == metric.kind.rawValue, "\(name)")
                #expect(metric.labels.allSatisfy { cells[3].contains("`\($0)`") }, "\(name): \(cells[3])")
                if metric.labels.isEmpty { #expect(cells[3].isEmpty, "\(name)") }
            }
        }
        #expect(documented == Set(NodeMetric.all.map(\.name)))
    }
}
