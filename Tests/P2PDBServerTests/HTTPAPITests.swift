import Foundation
import P2PDB
import P2PDBServer
import Testing

@Suite("HTTP API")
struct HTTPAPITests {
    @Test func healthNeedsNoTokenEverythingElseDoes() async throws {
        let server = try await TestServer()
        #expect(try await server.request("GET", "/healthz", token: .some(nil)).status == 200)
        for (method, path) in [("GET", "/v1/status"), ("POST", "/v1/sql"), ("POST", "/v1/tx"), ("GET", "/v1/entries"), ("GET", "/metrics"), ("GET", "/v1/changes")] {
            let missing = try await server.request(method, path, token: .some(nil))
            #expect(missing.status == 401, "\(method) \(path)")
            #expect(missing.json.errorCode == "unauthorized")
            let wrong = try await server.request(method, path, token: "not-the-token")
            #expect(wrong.status == 401, "\(method) \(path)")
        }
        try await server.stop()
    }

    @Test func queriesAndWrites() async throws {
        let server = try await TestServer()
        let create = try await server.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL, photo BLOB, stock COUNTER INTEGER NOT NULL DEFAULT 0)")
        #expect(create.status == 200)
        #expect(create.json?["entry"]?.stringValue?.count == 64)

        let insert = try await server.sql(
            "INSERT INTO items(sku, name, price, photo, stock) VALUES (?, ?, ?, ?, ?)",
            params: #"["apple", "Apple", 0.5, {"base64": "AAEC/w=="}, 10]"#)
        #expect(insert.status == 200)
        #expect(insert.json?["changes"] == .number("1"))
        let entry = try #require(insert.json?["entry"]?.stringValue)

        let select = try await server.sql("SELECT sku, name, price, photo, stock FROM items WHERE sku = ?", params: #"["apple"]"#)
        #expect(select.status == 200)
        #expect(select.json?["columns"] == .array(["sku", "name", "price", "photo", "stock"].map(JSON.string)))
        #expect(select.json?["rows"] == .array([.array([.string("apple"), .string("Apple"), .number("0.5"), .object([("base64", .string("AAEC/w=="))]), .number("10")])]))

        let noop = try await server.sql("UPDATE items SET name = 'x' WHERE sku = 'none'")
        #expect(noop.json?["changes"] == .number("0"))
        #expect(noop.json?["entry"] == .null)

        let one = try await server.request("GET", "/v1/entries/\(entry)")
        #expect(one.status == 200)
        #expect(one.json?["id"]?.stringValue == entry)
        #expect(one.json?["author"]?.stringValue == server.node.nodeID.hex)
        #expect(one.json?["signature"]?.stringValue?.count == 128)
        guard case .array(let changes)? = one.json?["changes"] else { Issue.record("no changes"); return }
        #expect(changes.count == 1)
        #expect(changes.first?["op"]?.stringValue == "insert")
        try await server.stop()
    }

    @Test func applicationSchemasAndTheConstraintReport() async throws {
        let server = try await TestServer()
        for statement in [
            "DROP TABLE IF EXISTS lines",
            "CREATE TABLE products (sku TEXT PRIMARY KEY, stock COUNTER INTEGER CHECK (stock >= 0), touched INTEGER DEFAULT 0)",
            "CREATE TABLE lines (id TEXT PRIMARY KEY, sku TEXT REFERENCES products (sku) ON DELETE CASCADE, quantity INTEGER CHECK (quantity > 0))",
            "CREATE TRIGGER sold AFTER INSERT ON lines BEGIN UPDATE products SET stock = stock - NEW.quantity WHERE sku = NEW.sku; END",
            "CREATE VIEW stock AS SELECT sku, stock FROM products",
            "INSERT INTO products (sku, stock) VALUES ('apple', 5)",
            "INSERT INTO lines VALUES ('l1', 'apple', 2)",
        ] {
            let reply = try await server.sql(statement)
            #expect(reply.status == 200, "\(statement): \(reply.text)")
        }
        #expect(try await server.sql("SELECT * FROM stock").json?["rows"] == .array([.array([.string("apple"), .number("3")])]))
        let orphan = try await server.sql("INSERT INTO lines VALUES ('l2', 'pear', 1)")
        #expect(orphan.status == 409)
        #expect(orphan.json.errorCode == "constraint")
        let tooMany = try await server.sql("INSERT INTO lines VALUES ('l3', 'apple', 4)")
        #expect(tooMany.status == 409)
        #expect(try await server.request("GET", "/v1/check").json?["count"] == .number("0"))

        // Another register, offline, sells four apples: the merged stock
        // breaks the CHECK, and the merge keeps it and reports it.
        let otherDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-other-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: otherDirectory) }
        let other = try Node.open(DataDirectory(path: otherDirectory.path), createIfNeeded: true, options: StoreOptions(durability: .off))
        _ = try await other.store.importBundle(try await server.node.store.exportBundle().bytes)
        try await server.sql("UPDATE products SET stock = stock - 2")
        _ = try await other.store.execute([SQLRequest("UPDATE products SET stock = stock - 2")])
        _ = try await server.node.store.importBundle(try await other.store.exportBundle().bytes)
        try await other.close()
        let check = try await server.request("GET", "/v1/check")
        #expect(check.status == 200)
        #expect(check.json?["count"] == .number("1"))
        guard case .array(let problems)? = check.json?["problems"] else { Issue.record("no problems"); return }
        #expect(problems.first?["kind"]?.stringValue == "failed_check")
        #expect(problems.first?["table"]?.stringValue == "products")
        #expect(problems.first?["key"] == .array([.string("apple")]))
        #expect(problems.first?["constraint"]?.stringValue == "stock >= 0")
        try await server.stop()
    }

    @Test func transactionsAreAllOrNothing() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        let good = try await server.request(
            "POST", "/v1/tx",
            body: #"{"statements": [{"sql": "INSERT INTO t VALUES (?, ?)", "params": [1, "a"]}, {"sql": "INSERT INTO t VALUES (2, 'b')"}, {"sql": "SELECT count(*) FROM t"}]}"#)
        #expect(good.status == 200)
        guard case .array(let results)? = good.json?["results"] else { Issue.record("no results"); return }
        #expect(results.count == 3)
        #expect(results[0]["changes"] == .number("1"))
        #expect(results[2]["rows"] == .array([.array([.number("2")])]))
        #expect(good.json?["entry"]?.stringValue != nil)

        let entriesBefore = try await server.node.status().summary.entryCount
        let bad = try await server.request(
            "POST", "/v1/tx",
            body: #"{"statements": [{"sql": "INSERT INTO t VALUES (3, 'c')"}, {"sql": "INSERT INTO t VALUES (1, 'duplicate')"}]}"#)
        #expect(bad.status == 409)
        #expect(bad.json.errorCode == "constraint")
        let count = try await server.sql("SELECT count(*) FROM t")
        #expect(count.json?["rows"] == .array([.array([.number("2")])]))
        #expect(try await server.node.status().summary.entryCount == entriesBefore)
        try await server.stop()
    }

    @Test func everyBadRequestGetsItsStatusAndChangesNothing() async throws {
        let server = try await TestServer(maximumBodySize: 4096)
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        _ = try await server.sql("INSERT INTO t VALUES (1, 'a')")
        let hashBefore = server.node.store.summary.stateHash
        let entriesBefore = server.node.store.summary.entryCount

        let cases: [(String, String, String?, Int, String)] = [
            ("POST", "/v1/sql", "{not json", 400, "invalid_input"),
            ("POST", "/v1/sql", "", 400, "invalid_input"),
            ("POST", "/v1/sql", #"{"query": "SELECT 1"}"#, 400, "invalid_input"),
            ("POST", "/v1/sql", #"{"sql": 42}"#, 400, "invalid_input"),
            ("POST", "/v1/sql", #"{"sql": "SELECT 1", "params": {"a": 1}}"#, 400, "invalid_input"),
            ("POST", "/v1/sql", #"{"sql": "SELEC * FROM t"}"#, 400, "invalid_sql"),
            ("POST", "/v1/sql", #"{"sql": "INSERT INTO t VALUES (?, ?)", "params": [2]}"#, 400, "invalid_parameters"),
            ("POST", "/v1/sql", #"{"sql": "SELECT ?", "params": [[1]]}"#, 400, "invalid_parameters"),
            ("POST", "/v1/sql", #"{"sql": "INSERT INTO t VALUES (1, 'again')"}"#, 409, "constraint"),
            ("POST", "/v1/sql", #"{"sql": "INSERT INTO t VALUES (5, NULL)"}"#, 409, "constraint"),
            ("POST", "/v1/sql", #"{"sql": "ATTACH DATABASE 'x.db' AS x"}"#, 403, "refused"),
            ("POST", "/v1/sql", #"{"sql": "DELETE FROM _p2pdb_entries"}"#, 403, "refused"),
            ("POST", "/v1/sql", #"{"sql": "DROP TABLE t"}"#, 403, "refused"),
            ("POST", "/v1/sql", #"{"sql": "PRAGMA writable_schema = 1"}"#, 403, "refused"),
            ("POST", "/v1/sql", #"{"sql": "CREATE TABLE nokey (a TEXT)"}"#, 403, "refused"),
            ("POST", "/v1/tx", #"{"statements": []}"#, 400, "invalid_input"),
            ("POST", "/v1/tx", #"{"statements": [{"sql": "INSERT INTO t VALUES (9, 'x')"}, {"sql": "bogus"}]}"#, 400, "invalid_sql"),
            ("POST", "/v1/sql", #"{"sql": "SELECT '\#(String(repeating: "x", count: 5000))'"}"#, 413, "too_large"),
            ("GET", "/v1/entries/zzz", nil, 400, "invalid_input"),
            ("GET", "/v1/entries/\(String(repeating: "ab", count: 32))", nil, 404, "not_found"),
            ("GET", "/v1/entries?after=\(String(repeating: "cd", count: 32))", nil, 404, "not_found"),
            ("GET", "/v1/entries?limit=0", nil, 400, "invalid_input"),
            ("GET", "/v1/no-such-route", nil, 404, "not_found"),
        ]
        for (method, path, body, status, code) in cases {
            let reply = try await server.request(method, path, body: body)
            #expect(reply.status == status, "\(method) \(path) \(body ?? "")")
            #expect(reply.json.errorCode == code, "\(method) \(path) \(body ?? ""): \(reply.text)")
            #expect(reply.json?["error"]?["message"]?.stringValue?.isEmpty == false)
        }
        #expect(server.node.store.summary.stateHash == hashBefore)
        #expect(server.node.store.summary.entryCount == entriesBefore)
        try await server.stop()
    }

    /// The security review's requests that changed later requests: each is
    /// refused (403) or harmless, and afterwards reads, writes, LIKE and
    /// column names are as before.
    @Test func hostileRequestsLeaveNoTraceForLaterClients() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, price REAL)")
        _ = try await server.sql("INSERT INTO items VALUES ('apple', 'Apple', 0.5)")
        for body in [
            #"{"sql": "PRAGMA hard_heap_limit=100000"}"#, #"{"sql": "PRAGMA locking_mode=EXCLUSIVE"}"#,
            #"{"sql": "PRAGMA case_sensitive_like=1"}"#, #"{"sql": "PRAGMA full_column_names=1"}"#,
            #"{"sql": "PRAGMA wal_autocheckpoint=0"}"#, #"{"sql": "SELECT hex(fts3_tokenizer('simple'))"}"#,
            #"{"sql": "SELECT sql FROM sqlite_stmt"}"#, #"{"sql": "SELECT $a('), key, value FROM _p2pdb_meta -- '", "params": [null]}"#,
        ] {
            let reply = try await server.request("POST", "/v1/sql", body: body)
            #expect(reply.status == 403 && reply.json.errorCode == "refused", "\(body): \(reply.text)")
        }
        let inTransaction = try await server.request(
            "POST", "/v1/tx", body: #"{"statements": [{"sql": "UPDATE items SET name = name WHERE 0"}, {"sql": "PRAGMA query_only=1"}]}"#)
        #expect(inTransaction.status == 403)
        let nul = try await server.request("POST", "/v1/sql", body: #"{"sql": "INSERT INTO items VALUES ('n1', 'a', 1)\u0000; INSERT INTO items VALUES ('n2', 'a', 1)"}"#)
        #expect(nul.status == 400 && nul.json.errorCode == "invalid_input", "\(nul.text)")
        #expect(try await server.sql("EXPLAIN UPDATE items SET name = 'x'").status == 200)
        for index in 0..<4 {
            #expect(try await server.sql("INSERT INTO items VALUES ('k\(index)', 'Kiwi', 1)").status == 200)
            let read = try await server.sql("SELECT items.sku, 'a' LIKE 'A' FROM items WHERE sku = 'apple'")
            #expect(read.json?["columns"] == .array([.string("sku"), .string("'a' LIKE 'A'")]), "\(read.text)")
            #expect(read.json?["rows"] == .array([.array([.string("apple"), .number("1")])]))
        }
        try await server.stop()
    }

    @Test func statusEntriesAndMetrics() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(try #require(try await server.sql("INSERT INTO t VALUES (\(index), 'v')").json?["entry"]?.stringValue))
        }
        let status = try await server.request("GET", "/v1/status")
        #expect(status.status == 200)
        #expect(status.json?["node_id"]?.stringValue == server.node.nodeID.hex)
        #expect(status.json?["entries"] == .number("6"))
        #expect(status.json?["heads"] == .array([.string(ids[4])]))
        #expect(status.json?["lamport"] == .number("6"))
        #expect(status.json?["state_hash"]?.stringValue == server.node.store.summary.stateHash.hex)
        #expect(status.json?["version_vector"] == .object([(server.node.nodeID.hex, .number("6"))]))
        #expect(status.json?["equivocations"] == .array([]))
        #expect(status.json?["peers"] == .array([]))

        let first = try await server.request("GET", "/v1/entries?limit=4")
        guard case .array(let page)? = first.json?["entries"] else { Issue.record("no entries"); return }
        #expect(page.count == 4)
        let next = try #require(first.json?["next"]?.stringValue)
        let second = try await server.request("GET", "/v1/entries?after=\(next)&limit=4")
        guard case .array(let rest)? = second.json?["entries"] else { Issue.record("no entries"); return }
        #expect(rest.compactMap { $0["id"]?.stringValue } == Array(ids[3...]))
        #expect(second.json?["next"] == .null)

        let metrics = try await server.request("GET", "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"p2pdb_http_requests_total{route="/v1/sql",method="POST",status="200"} 6"#))
        #expect(metrics.text.contains("p2pdb_http_request_duration_seconds_bucket"))
        #expect(metrics.text.contains(#"p2pdb_entries_applied_total{origin="local"} 6"#))
        #expect(metrics.text.contains(#"p2pdb_rows_applied_total{origin="local"} 5"#))
        #expect(metrics.text.contains("p2pdb_log_entries 6"))
        _ = try await server.sql("SELEC")
        let after = try await server.request("GET", "/metrics")
        #expect(after.text.contains(#"p2pdb_http_errors_total{code="invalid_sql"} 1"#))
        try await server.stop()
    }

    @Test func concurrentWritersLoseAndDuplicateNothing() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE sales (id TEXT PRIMARY KEY, register INTEGER, n INTEGER)")
        let writers = 32
        let perWriter = 15
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var entries: [String] = []
                    for n in 0..<perWriter {
                        let reply = try await server.sql("INSERT INTO sales VALUES (?, ?, ?)", params: #"["\#(writer)-\#(n)", \#(writer), \#(n)]"#)
                        #expect(reply.status == 200)
                        if let entry = reply.json?["entry"]?.stringValue { entries.append(entry) }
                    }
                    return entries
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acknowledged.count == writers * perWriter)
        #expect(Set(acknowledged).count == writers * perWriter)
        let count = try await server.sql("SELECT count(*), count(DISTINCT id) FROM sales")
        #expect(count.json?["rows"] == .array([.array([.number("\(writers * perWriter)"), .number("\(writers * perWriter)")])]))
        #expect(server.node.store.summary.entryCount == Int64(writers * perWriter + 1))
        let report = try await server.node.store.verify()
        #expect(report.isValid)
        try await server.stop()
    }

    @Test func shutdownKeepsEveryAcknowledgedWrite() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        let writes = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let reply = try? await server.sql("INSERT INTO t VALUES (\(index))")
                    return reply?.status == 200 ? 1 : 0
                }
            }
            group.addTask {
                await server.server.shutdown()
                return 0
            }
            return try await group.reduce(0, +)
        }
        try await server.stop()
        let reopened = try Node.open(DataDirectory(path: server.directory.path))
        let rows = try await reopened.query("SELECT count(*) FROM t").rows
        guard case .integer(let stored)? = rows.first?.first else { Issue.record("no count"); return }
        // Every acknowledged write is there; a write may also have committed
        // while its client was already giving up.
        #expect(stored >= Int64(writes))
        try await reopened.close()
    }

    @Test func aClosedReplicaAnswers503() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        try await server.node.store.close()
        let reply = try await server.sql("INSERT INTO t VALUES (1)")
        #expect(reply.status == 503)
        #expect(reply.json.errorCode == "unavailable")
        try await server.stop()
    }
}
