import Foundation
import P2PDB
@testable import P2PDBServer
import P2PDBTestSupport
import Testing

/// Live queries: `POST /v1/subscriptions`, then snapshot and diff events.
@Suite("Query subscriptions")
struct SubscriptionTests {
    /// A client's copy of a subscribed result, kept by applying the events.
    struct Mirror {
        var rows: [[JSON]] = []
        let key: Int?

        mutating func apply(_ event: EventStreamClient.Event) {
            guard let json = event.json else { return }
            func rows(_ name: String) -> [[JSON]] { json[name]?.arrayValue?.compactMap(\.arrayValue) ?? [] }
            if event.name == "snapshot" {
                self.rows = rows("rows")
                return
            }
            for row in rows("left") {
                if let index = self.rows.firstIndex(of: row) { self.rows.remove(at: index) }
            }
            for row in rows("changed") {
                guard let key, let index = self.rows.firstIndex(where: { $0[key] == row[key] }) else { continue }
                self.rows[index] = row
            }
            self.rows += rows("entered")
        }

        func sorted(_ rows: [[JSON]]) -> [String] { rows.map { JSON.array($0).text }.sorted() }
    }

    /// Random writes, some to the query's table and some elsewhere: the
    /// client's copy, kept from the events alone, always equals the query's
    /// result, and a write the result does not see sends nothing.
    @Test(arguments: [(0, true), (1, true), (2, false), (3, false)])
    func aMirrorKeptFromTheEventsEqualsTheResult(seed: UInt64, keyed: Bool) async throws {
        var random = SeededGenerator(seed: 70 + seed)
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER, price ANY)")
        _ = try await server.sql("CREATE TABLE other (id INTEGER PRIMARY KEY)")
        let query = "SELECT sku, qty, price FROM stock WHERE qty > 0"
        let body = JSON.object([("sql", .string(query))] + (keyed ? [("key", .array([.string("sku")]))] : []))
        let registered = try await server.request("POST", "/v1/subscriptions", body: body.text)
        #expect(registered.status == 200, "\(registered.text)")
        let events = try #require(registered.json?["events"]?.stringValue)
        let client = EventStreamClient(url: URL(string: server.baseURL.absoluteString + events)!, token: server.token)
        var mirror = Mirror(key: keyed ? 0 : nil)
        let snapshot = await client.events(1)
        #expect(snapshot.first?.name == "snapshot")
        snapshot.forEach { mirror.apply($0) }
        for step in 0..<30 {
            let sku = "'s\(Int.random(in: 0..<6, using: &random))'"
            let sql: String
            switch Int.random(in: 0..<5, using: &random) {
            case 0: sql = "INSERT OR REPLACE INTO stock VALUES (\(sku), \(Int.random(in: -2...5, using: &random)), \(ChangeFeedRowsTests.value(&random)))"
            case 1: sql = "UPDATE stock SET qty = qty - 1 WHERE sku = \(sku)"
            case 2: sql = "UPDATE stock SET price = \(ChangeFeedRowsTests.value(&random)) WHERE sku = \(sku)"
            case 3: sql = "DELETE FROM stock WHERE sku = \(sku)"
            default: sql = "INSERT OR REPLACE INTO other VALUES (\(Int.random(in: 0..<3, using: &random)))"
            }
            let before = try await server.sql(query).json?["rows"]
            #expect(try await server.sql(sql).status == 200, "\(sql)")
            let after = try await server.sql(query).json?["rows"]
            let expected = after?.arrayValue?.compactMap(\.arrayValue) ?? []
            if before == after {
                // Nothing the result shows changed: no event.
                #expect(await client.events(1, timeout: .milliseconds(150)).isEmpty, "seed \(seed) step \(step): \(sql)")
            } else {
                let event = await client.events(1)
                #expect(event.first?.name == "diff", "seed \(seed) step \(step)")
                event.forEach { mirror.apply($0) }
            }
            #expect(mirror.sorted(mirror.rows) == mirror.sorted(expected), "seed \(seed) step \(step): \(sql)")
        }
        client.close()
        try await server.stop()
    }

    /// A client that reconnects with its last event ID gets one diff for
    /// all it missed; with any other, a snapshot.
    @Test func aReconnectionResumesWithOneDiff() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        _ = try await server.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        let registered = try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT id, v FROM t", "key": ["id"]}"#)
        let path = try #require(registered.json?["events"]?.stringValue)
        let url = URL(string: server.baseURL.absoluteString + path)!
        let first = EventStreamClient(url: url, token: server.token)
        let snapshot = await first.events(1)
        first.close()
        #expect(snapshot.first?.json?["rows"] == .array([.array([.number("1"), .string("a")]), .array([.number("2"), .string("b")])]))

        _ = try await server.sql("UPDATE t SET v = 'z' WHERE id = 1")
        _ = try await server.sql("DELETE FROM t WHERE id = 2")
        _ = try await server.sql("INSERT INTO t VALUES (3, 'c')")
        let resumed = EventStreamClient(url: url, token: server.token, lastEventID: snapshot.first?.id)
        let missed = await resumed.events(2, timeout: .milliseconds(800))
        resumed.close()
        #expect(missed.count == 1)
        let diff = try #require(missed.first?.json)
        #expect(missed.first?.name == "diff")
        #expect(diff["changed"] == .array([.array([.number("1"), .string("z")])]))
        #expect(diff["left"] == .array([.array([.number("2"), .string("b")])]))
        #expect(diff["entered"] == .array([.array([.number("3"), .string("c")])]))

        let fresh = EventStreamClient(url: url, token: server.token, lastEventID: "999")
        let restarted = await fresh.events(1)
        fresh.close()
        #expect(restarted.first?.name == "snapshot")
        #expect(restarted.first?.json?["rows"]?.arrayValue?.count == 2)

        // A ticket opens it as it opens the change feed.
        let ticket = try #require(try await server.request("POST", "/v1/tickets").json?["ticket"]?.stringValue)
        let browser = EventStreamClient(url: URL(string: url.absoluteString + "?ticket=\(ticket)")!, token: nil)
        #expect(await browser.events(1).first?.name == "snapshot")
        browser.close()
        try await server.stop()
    }

    @Test func badSubscriptionsAreRefusedAndDeletedOnesAreGone() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        for (body, status) in [
            (#"{"sql": "INSERT INTO t VALUES (1)"}"#, 403), (#"{"sql": "SELEC 1"}"#, 400), (#"{"sql": "CREATE TABLE u (a)"}"#, 403),
            (#"{"sql": "SELECT id FROM t", "key": ["nope"]}"#, 400), (#"{"sql": "SELECT id FROM t", "key": "id"}"#, 400),
        ] {
            let reply = try await server.request("POST", "/v1/subscriptions", body: body)
            #expect(reply.status == status, "\(body): \(reply.text)")
        }
        #expect(try await server.sql("SELECT count(*) FROM t").json?["rows"] == .array([.array([.number("0")])]))
        // A subscription keeps its result: a large one is refused, naming the limit.
        _ = try await server.sql("CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)")
        _ = try await server.sql("INSERT INTO big VALUES (1, zeroblob(1500000)), (2, zeroblob(1500000))")
        let large = try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT * FROM big"}"#)
        #expect(large.status == 400 && large.json?["error"]?["code"]?.stringValue == "limit_exceeded", "\(large.text.prefix(300))")
        let id = try #require(try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT id FROM t"}"#).json?["id"]?.stringValue)
        #expect(try await server.request("DELETE", "/v1/subscriptions/\(id)").status == 200)
        #expect(try await server.request("DELETE", "/v1/subscriptions/\(id)").status == 404)
        #expect(try await server.request("GET", "/v1/subscriptions/\(id)/events").status == 404)
        try await server.stop()
    }

    /// A client that registers subscriptions without end is stopped at the
    /// limit, and deleting one makes room.
    @Test func subscriptionsAreBounded() async throws {
        let server = try await TestServer()
        var ids: [String] = []
        for _ in 0..<128 {
            let reply = try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT 1"}"#)
            ids.append(try #require(reply.json?["id"]?.stringValue, "\(reply.text)"))
        }
        let refused = try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT 1"}"#)
        #expect(refused.status == 503 && refused.json?["error"]?["code"]?.stringValue == "busy")
        #expect(try await server.request("DELETE", "/v1/subscriptions/\(ids[0])").status == 200)
        #expect(try await server.request("POST", "/v1/subscriptions", body: #"{"sql": "SELECT 1"}"#).status == 200)
        try await server.stop()
    }

    /// Applying the diff between two random results to the first gives the second.
    @Test(arguments: 0..<200)
    func theDiffTurnsTheOldResultIntoTheNew(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        func result() -> [[Value]] {
            let keys = Array(0..<8).shuffled(using: &random).prefix(Int.random(in: 0...6, using: &random))
            return keys.map { [.integer(Int64($0)), [.null, .integer(1), .real(1.0), .text("1")].randomElement(using: &random) ?? .null] }
        }
        let old = result(), new = result()
        for keyColumns in [[0], []] {
            let diff = QueryResultDiff(from: old, to: new, keyColumns: keyColumns)
            var rebuilt = old.filter { !diff.left.contains($0) }
            for row in diff.changed {
                if let index = rebuilt.firstIndex(where: { $0[0] == row[0] }) { rebuilt[index] = row }
            }
            rebuilt += diff.entered
            #expect(Set(rebuilt) == Set(new), "seed \(seed) key \(keyColumns)")
            #expect(rebuilt.count == new.count)
            if keyColumns.isEmpty { #expect(diff.changed.isEmpty) }
        }
    }
}
