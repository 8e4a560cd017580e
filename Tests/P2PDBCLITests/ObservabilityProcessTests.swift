import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP request answered as text; no `Authorization` header without a token.
func httpText(_ method: String, _ url: String, token: String?, body: String? = nil) async throws -> (status: Int, text: String) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    if let body { request.httpBody = Data(body.utf8) }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// `promtool` from Debian's `prometheus` package, if installed.
let promtool: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return (path.split(separator: ":").map { "\($0)/promtool" } + ["/usr/bin/promtool"])
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}()

@Suite("Metrics, logs and readiness of p2pdb serve", .serialized)
struct ObservabilityProcessTests {
    /// Two replicating nodes; requests to the second touch every metric:
    /// local and remote entries, an entry by ID, errors, an unknown path
    /// and method. Its `/metrics`, and the token it was read with.
    static func exercisedExposition(_ temp: TemporaryDirectory) async throws -> (text: String, entry: String) {
        let a = try PeerNode(directory: temp.path("a"))
        let b = try PeerNode(directory: temp.path("b"), join: [a])
        let url = try #require(b.process?.url)
        let token = try p2pdb("token", "--data", b.directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").status == 0)
        #expect(converged([a, b]))
        let insert = try await httpRequest("POST", url + "/v1/sql", token: token, body: #"{"sql": "INSERT INTO t VALUES (1, 'x')"}"#)
        let entry = try #require(insert.1?["entry"]?.stringValue)
        #expect(converged([a, b]))
        #expect(try await httpText("GET", url + "/v1/entries/\(entry)", token: token).status == 200)
        #expect(try await httpText("GET", url + "/v1/entries/" + String(repeating: "0", count: 64), token: token).status == 404)
        #expect(try await httpText("GET", url + "/no/such/path", token: token).status == 404)
        #expect(try await httpText("PURGE", url + "/v1/status", token: token).status == 404)
        #expect(try await httpText("POST", url + "/v1/sql", token: token, body: #"{"sql": "SELEC"}"#).status == 400)
        #expect(try await httpText("GET", url + "/readyz", token: nil).status == 200)
        _ = try await httpText("GET", url + "/metrics", token: token)
        let metrics = try await httpText("GET", url + "/metrics", token: token)
        #expect(metrics.status == 200)
        return (metrics.text, entry)
    }

    @Test func everyMetricHasItsHelpTypeAndDocumentedLabels() async throws {
        let temp = try TemporaryDirectory()
        let (text, entry) = try await Self.exercisedExposition(temp)
        let exposition = try PrometheusExposition(text)

        for metric in NodeMetric.all {
            let family = try #require(exposition[metric.name], "\(metric.name) missing from:\n\(text)")
            #expect(family.type == metric.kind.rawValue, "\(metric.name)")
            #expect(family.help == metric.help, "\(metric.name)")
            for sample in family.samples {
                #expect(sample.labels.map(\.name).filter { $0 != "le" } == metric.labels, "\(metric.name)")
            }
        }
        #expect(Set(exposition.families.keys) == Set(NodeMetric.all.map(\.name)))

        // Route templates, never raw paths; one label for every unknown path.
        let requests = try #require(exposition[NodeMetric.httpRequests.name]).samples
        let routes = Set(requests.compactMap { $0.label("route") })
        #expect(routes.isSuperset(of: ["/v1/sql", "/v1/entries/{id}", "/readyz", "/metrics", "unmatched"]), "\(routes)")
        #expect(routes.allSatisfy { $0 == "unmatched" || ($0.hasPrefix("/") && !$0.contains(entry) && !$0.contains("0000")) }, "\(routes)")
        #expect(!routes.contains("/no/such/path"))
        #expect(requests.contains { $0.label("route") == "unmatched" && $0.label("method") == "other" && $0.label("status") == "404" })
        #expect(requests.contains { $0.label("route") == "/v1/entries/{id}" && $0.label("status") == "404" })

        let errors = try #require(exposition[NodeMetric.httpErrors.name]).samples
        #expect(errors.contains { $0.label("code") == "invalid_sql" && $0.value == 1 })
        let applied = try #require(exposition[NodeMetric.entriesApplied.name]).samples
        #expect(applied.contains { $0.label("origin") == "local" && $0.value == 1 })
        #expect(applied.contains { $0.label("origin") == "remote" && $0.value == 1 })
        #expect(exposition[NodeMetric.syncEntriesReceived.name]?.samples.first?.value == 1)
        #expect(exposition[NodeMetric.peersConnected.name]?.samples.first?.value == 1)
        #expect(exposition[NodeMetric.logEntries.name]?.samples.first?.value == 2)
    }

    @Test(.enabled(if: promtool != nil, "promtool is not installed (Debian package prometheus)"))
    func promtoolChecksTheMetrics() async throws {
        let temp = try TemporaryDirectory()
        let (text, _) = try await Self.exercisedExposition(temp)
        let check = try ChildProcess.run(try #require(promtool), ["check", "metrics"], input: text)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)\n\(text)")
    }

    @Test func theStrictParserRefusesWhatAScraperCouldMisread() throws {
        let good = "# HELP a_total Things.\n# TYPE a_total counter\na_total{k=\"v \\\" \\\\ \\n\"} 1\n"
        #expect(try PrometheusExposition(good)["a_total"]?.samples.first?.label("k") == "v \" \\ \n")
        let bad = [
            "# TYPE a_total counter\na_total 1\n",  // no HELP
            "# HELP a_total A.\n# HELP a_total A.\n# TYPE a_total counter\na_total 1\n",  // two HELP lines
            "# HELP a A.\n# TYPE a counter\na 1\n",  // a counter without _total
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"1\"} 1\na_total{k=\"1\"} 2\n",  // a series twice
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"\\x\"} 1\n",  // an unknown escape
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"a\"b\"} 1\n",  // a bare quote
            "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n",  // a name starting with a digit
            "# HELP g G.\n# TYPE g gauge\n# HELP h H.\n# TYPE h gauge\nh 1\ng 1\n",  // a family's lines apart
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // not cumulative
            "# HELP g G.\n# TYPE g gauge\ng one\n",  // not a number
        ]
        for text in bad {
            #expect(throws: PrometheusExposition.Problem.self, "\(text)") { try PrometheusExposition(text) }
        }
    }

    @Test func jsonLogsAreOneObjectALine() async throws {
        let temp = try TemporaryDirectory()
        let log = temp.path("serve.log")
        try Data().write(to: URL(fileURLWithPath: log))
        let server = try ServeProcess(data: temp.path("node"), arguments: ["--log-format", "json", "--log-level", "info"], stderr: .file(log))
        #expect(try await httpText("GET", server.url + "/healthz", token: nil).status == 200)
        server.stop(SIGTERM)
        #expect(server.process.terminationStatus == 0)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count >= 3, "\(lines)")
        var messages: [String] = []
        for line in lines {
            let json = try JSON.parse(line)
            guard case .object(let members) = json else {
                Issue.record("not an object: \(line)")
                continue
            }
            #expect(members.map(\.0) == ["time", "level", "label", "message", "metadata"], "\(line)")
            #expect(json["time"]?.stringValue?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(line)")
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(json["level"]?.stringValue ?? ""), "\(line)")
            #expect(json["label"]?.stringValue?.isEmpty == false, "\(line)")
            guard case .object? = json["metadata"] else {
                Issue.record("metadata is not an object: \(line)")
                continue
            }
            messages.append(json["message"]?.stringValue ?? "")
        }
        let listening = try #require(lines.compactMap { try? JSON.parse($0) }.first { $0["message"]?.stringValue?.hasPrefix("HTTP API listening on") == true })
        #expect(listening["level"]?.stringValue == "info")
        #expect(listening["metadata"]?["node"]?.stringValue?.isEmpty == false)
        #expect(messages.last == "stopped", "\(messages)")
    }

    @Test func theLogFormatCanComeFromTheEnvironmentAndAFailureIsLoggedAsJSON() async throws {
        let temp = try TemporaryDirectory()
        let log = temp.path("serve.log")
        try Data().write(to: URL(fileURLWithPath: log))
        let server = try ServeProcess(
            data: temp.path("node"), arguments: ["--log-level", "info"], environment: ["P2PDB_LOG_FORMAT": "json"], stderr: .file(log))
        server.stop(SIGTERM)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { (try? JSON.parse(String($0)))?["message"] != nil }, "\(lines)")

        let failed = try p2pdb("serve", "--data", temp.path("node"), "--http", "127.0.0.1:0", "--log-format", "json", "--max-body", "0")
        #expect(failed.status == 1)
        let line = try JSON.parse(failed.stderr.trimmingCharacters(in: .newlines))
        #expect(line["level"]?.stringValue == "error")
        #expect(line["message"]?.stringValue == "--max-body and --max-bundle must be positive")

        let unknown = try ChildProcess.run(
            "/usr/bin/env", ["P2PDB_LOG_FORMAT=yaml", p2pdbBinary.path, "serve", "--data", temp.path("node"), "--http", "127.0.0.1:0"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("The value 'yaml' is invalid for '--log-format"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("--log-format from environment P2PDB_LOG_FORMAT"), "\(unknown.stderr)")
    }

    @Test func readyzNeedsNoTokenAndTellsAJoinerHasCaughtUp() async throws {
        let temp = try TemporaryDirectory()
        let a = try PeerNode(directory: temp.path("a"))
        for id in 0..<20 { #expect(try a.sql(id == 0 ? "CREATE TABLE t (id INTEGER PRIMARY KEY)" : "INSERT INTO t VALUES (\(id))").status == 0) }
        let b = try PeerNode(directory: temp.path("b"), join: [a])
        let url = try #require(b.process?.url)
        #expect(converged([a, b]))
        let deadline = Date().addingTimeInterval(30)
        var answer = try await httpText("GET", url + "/readyz", token: nil)
        while Date() < deadline, (try? JSON.parse(answer.text))?["peers"] != .integer(1) || answer.status != 200 {
            usleep(100_000)
            answer = try await httpText("GET", url + "/readyz", token: nil)
        }
        #expect(answer.status == 200, "\(answer.text)")
        let json = try JSON.parse(answer.text)
        #expect(json["ready"] == .bool(true))
        #expect(json["entries_behind"] == .integer(0))
        #expect(json["peers"] == .integer(1))
    }
}
