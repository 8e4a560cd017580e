import Foundation
import P2PDB
import P2PDBServer
import P2PDBTestSupport
import Testing

/// `docs/openapi.json` describes the API a node serves: the same endpoints
/// as docs/FORMATS.md, and answers that fit its schemas.
@Suite("OpenAPI description")
struct OpenAPITests {
    static let root = packageRoot

    static func spec() throws -> JSON {
        try JSON.parse(Array(try Data(contentsOf: root.appendingPathComponent("docs/openapi.json"))))
    }

    /// Every `METHOD /path` of the spec, the path as the spec writes it.
    static func operations(_ spec: JSON) -> Set<String> {
        guard case .object(let paths)? = spec["paths"] else { return [] }
        return Set(paths.flatMap { path, item -> [String] in
            guard case .object(let methods) = item else { return [] }
            return methods.map { "\($0.0.uppercased()) \(path)" }
        })
    }

    @Test func itListsTheEndpointsOfFormats() throws {
        let formats = try String(contentsOf: Self.root.appendingPathComponent("docs/FORMATS.md"), encoding: .utf8)
        let table = formats.components(separatedBy: "### 7.2 Endpoints")[1].components(separatedBy: "### 7.3")[0]
        var documented = Set<String>()
        for line in table.split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(3).prefix { $0 != "`" }
            let words = cell.split(separator: " ", maxSplits: 1)
            guard words.count == 2 else { continue }
            let path = words[1].prefix { $0 != "?" && $0 != "[" }.replacingOccurrences(of: "/ID", with: "/{id}")
            documented.insert("\(words[0]) \(path)")
        }
        #expect(documented.count > 15)
        #expect(Self.operations(try Self.spec()) == documented)
    }

    /// Calls every JSON operation on a node and checks each answer, success
    /// and error alike, against the schema the spec gives for its status.
    @Test func answersFitTheSchemas() async throws {
        let spec = try Self.spec()
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, qty INTEGER, price REAL, photo BLOB)")
        let written = try await server.sql("INSERT INTO items VALUES ('apple', 3, 1.5, x'00ff'), ('pear', NULL, -0.0, NULL)")
        let entry = try #require(written.json?["entry"]?.stringValue)
        let subscription = try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT sku FROM items", "key": ["sku"]}"#)
        let subscriptionID = try #require(subscription.json?["id"]?.stringValue)
        let calls: [(method: String, template: String, path: String, body: String?, token: String??)] = [
            ("GET", "/healthz", "/healthz", nil, .none),
            ("GET", "/readyz", "/readyz", nil, .none),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "SELECT * FROM items", "params": []}"#, .none),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "UPDATE items SET qty = qty + 1 WHERE sku = ?", "params": ["apple"]}"#, .none),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "INSERT INTO items(sku) VALUES ('apple')"}"#, .none),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "SELEC"}"#, .none),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "SELECT 1"}"#, .some(nil)),
            ("POST", "/v1/sql", "/v1/sql", #"{"sql": "DELETE FROM items", "read_only": true}"#, .none),
            ("POST", "/v1/tx", "/v1/tx", #"{"statements": [{"sql": "DELETE FROM items WHERE sku = 'none'"}, {"sql": "SELECT count(*) FROM items"}]}"#, .none),
            ("POST", "/v1/tx", "/v1/tx", #"{"statements": []}"#, .none),
            ("GET", "/v1/status", "/v1/status", nil, .none),
            ("GET", "/v1/check", "/v1/check", nil, .none),
            ("GET", "/v1/entries", "/v1/entries?limit=2", nil, .none),
            ("GET", "/v1/entries", "/v1/entries?order=newest&limit=5", nil, .none),
            ("GET", "/v1/entries/{id}", "/v1/entries/\(entry)", nil, .none),
            ("GET", "/v1/entries/{id}", "/v1/entries/\(String(repeating: "0", count: 64))", nil, .none),
            ("GET", "/v1/verify", "/v1/verify", nil, .none),
            ("POST", "/v1/tickets", "/v1/tickets", nil, .none),
            ("POST", "/v1/subscriptions", "/v1/subscriptions", #"{"sql": "SELECT qty FROM items", "params": null}"#, .none),
            ("POST", "/v1/subscriptions", "/v1/subscriptions", #"{"sql": "DELETE FROM items"}"#, .none),
            ("DELETE", "/v1/subscriptions/{id}", "/v1/subscriptions/\(subscriptionID)", nil, .none),
            ("DELETE", "/v1/subscriptions/{id}", "/v1/subscriptions/\(subscriptionID)", nil, .none),
            ("GET", "/v1/changes", "/v1/changes?since=yesterday", nil, .none),
            ("POST", "/v1/network/changes", "/v1/network/changes", #"{"revoke": {"node": "00"}}"#, .none),
        ]
        var seen = Set<String>()
        func check(_ reply: TestServer.Reply, _ method: String, _ template: String, _ path: String) throws {
            let label = "\(method) \(path) → \(reply.status): \(reply.text.prefix(300))"
            let operation = spec["paths"]?[template]?[method.lowercased()]
            let response = try #require(operation?["responses"]?[String(reply.status)], "undocumented status: \(label)")
            let resolved = Self.resolve(response, in: spec)
            let schema = try #require(resolved["content"]?["application/json"]?["schema"], "no JSON schema: \(label)")
            let json = try #require(reply.json, "not JSON: \(label)")
            let problems = Self.problems(json, schema, spec, at: "$")
            #expect(problems.isEmpty, "\(label)\n\(problems.joined(separator: "\n"))")
            seen.insert("\(method) \(template)")
        }
        for call in calls {
            try check(try await server.request(call.method, call.path, body: call.body, token: call.token), call.method, call.template, call.path)
        }
        // A bundle of the node's own log (all duplicates), and bytes that are no bundle.
        let (bundle, _) = try await server.node.store.exportBundle(since: nil)
        for upload in [Data(bundle), Data([1, 2, 3])] {
            try check(try await server.request("POST", "/v1/bundle", data: upload), "POST", "/v1/bundle", "/v1/bundle")
        }
        // Every JSON operation was called.
        let json = Self.operations(spec).filter { operation in
            let words = operation.split(separator: " ")
            let responses = spec["paths"]?[String(words[1])]?[words[0].lowercased()]?["responses"]?["200"]
            return responses?["content"]?["application/json"] != nil
        }
        #expect(json.subtracting(seen).isEmpty, "not called: \(json.subtracting(seen).sorted())")
        try await server.stop()
    }

    static func resolve(_ json: JSON, in spec: JSON) -> JSON {
        guard let reference = json["$ref"]?.stringValue else { return json }
        return reference.dropFirst(2).split(separator: "/").reduce(spec) { $0[String($1)] ?? .null }
    }

    /// Where `value` departs from `schema`: the subset of JSON Schema the
    /// spec uses (type, nullable, required, properties, additionalProperties,
    /// items, minItems, enum, $ref).
    static func problems(_ value: JSON, _ schema: JSON, _ spec: JSON, at path: String) -> [String] {
        let schema = resolve(schema, in: spec)
        if value == .null {
            return schema["nullable"] == .bool(true) || schema["type"] == nil ? [] : ["\(path): null where \(schema["type"]?.text ?? "?") is required"]
        }
        var problems: [String] = []
        if case .array(let allowed)? = schema["enum"], !allowed.contains(value), !allowed.contains(.string(value.text)) {
            problems.append("\(path): \(value.text) is not one of \(allowed.map(\.text))")
        }
        switch (schema["type"]?.stringValue, value) {
        case (nil, _), ("string"?, .string), ("boolean"?, .bool), ("number"?, .number):
            break
        case ("integer"?, .number(let text)):
            if Int64(text) == nil { problems.append("\(path): \(text) is not an integer") }
        case ("array"?, .array(let items)):
            if let minimum = schema["minItems"]?.intValue, items.count < minimum { problems.append("\(path): fewer than \(minimum) items") }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { problems += Self.problems(item, itemSchema, spec, at: "\(path)[\(index)]") }
            }
        case ("object"?, .object(let members)):
            let properties = schema["properties"]
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !members.contains(where: { $0.0 == required }) {
                problems.append("\(path): missing \(required)")
            }
            for (name, member) in members {
                if let property = properties?[name] {
                    problems += Self.problems(member, property, spec, at: "\(path).\(name)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(path): undocumented member \(name)")
                }
            }
        case (let type?, _):
            problems.append("\(path): \(value.text.prefix(80)) is not of type \(type)")
        }
        return problems
    }
}
