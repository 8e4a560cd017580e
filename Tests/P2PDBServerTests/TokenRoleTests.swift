import Foundation
import P2PDB
import P2PDBServer
import PropertyBased
import Testing

/// Tokens with roles: a read-only token reads everything and changes
/// nothing, a read-write token writes, an unknown token gets 401.
@Suite("API token roles")
struct TokenRoleTests {
    static let reader = "reader-token-0123456789"
    static let writer = "writer-token-0123456789"

    static func server() async throws -> TestServer {
        try await TestServer { configuration in
            configuration.additionalTokens = [APIToken(reader, role: .readOnly), APIToken(writer, role: .readWrite)]
        }
    }

    @Test func aReadOnlyTokenReadsEverything() async throws {
        let server = try await Self.server()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let entry = try #require(try await server.sql("INSERT INTO t VALUES (1, 'one')").json?["entry"]?.stringValue)
        for path in ["/v1/status", "/v1/check", "/v1/entries", "/v1/entries/\(entry)", "/v1/bundle", "/metrics"] {
            let reply = try await server.request("GET", path, token: Self.reader)
            #expect(reply.status == 200, "GET \(path): \(reply.text)")
        }
        let feed = EventStreamClient(url: URL(string: server.baseURL.absoluteString + "/v1/changes")!, token: Self.reader)
        try await Task.sleep(for: .milliseconds(200))
        let written = try await server.sql("INSERT INTO t VALUES (2, 'two')", token: Self.writer)
        #expect(await feed.events(1).map(\.id) == [written.json?["entry"]?.stringValue])
        #expect(feed.httpStatus == 200)
        feed.close()

        let select = try await server.sql("SELECT v FROM t WHERE id = ?", params: "[1]", token: Self.reader)
        #expect(select.status == 200)
        #expect(select.json?["rows"] == .array([.array([.string("one")])]))
        let reads = try await server.transaction(["SELECT count(*) FROM t", "SELECT v FROM t WHERE id = 2"], token: Self.reader)
        #expect(reads.status == 200, "\(reads.text)")
        #expect(reads.json?["results"] == .array([
            .object([("columns", .array([.string("count(*)")])), ("rows", .array([.array([.number("2")])]))]),
            .object([("columns", .array([.string("v")])), ("rows", .array([.array([.string("two")])]))]),
        ]))
        #expect(reads.json?["entry"] == .null)
        try await server.stop()
    }

    @Test func aReadOnlyTokenCannotWriteAndLeavesNoTrace() async throws {
        let server = try await Self.server()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        _ = try await server.sql("INSERT INTO t VALUES (1, 'one')")
        let bundle = try await Self.bundleFromAnotherNode()
        let before = server.node.store.summary

        let writes: [(String, @Sendable () async throws -> TestServer.Reply)] = [
            ("insert", { try await server.sql("INSERT INTO t VALUES (2, 'two')", token: Self.reader) }),
            ("a write that changes no row", { try await server.sql("UPDATE t SET v = 'x' WHERE 0", token: Self.reader) }),
            ("a read, then a write", { try await server.sql("SELECT 1; DELETE FROM t", token: Self.reader) }),
            ("a write after WITH", {
                try await server.sql("WITH c(x) AS (VALUES (3)) INSERT INTO t SELECT x, 'cte' FROM c", token: Self.reader)
            }),
            ("DDL", { try await server.sql("CREATE TABLE u (id INTEGER PRIMARY KEY)", token: Self.reader) }),
            ("a transaction of a read and a write", {
                try await server.transaction(["SELECT count(*) FROM t", "INSERT INTO t VALUES (4, 'four')"], token: Self.reader)
            }),
            ("a transaction of a write and a read", {
                try await server.transaction(["DELETE FROM t WHERE id = 1", "SELECT count(*) FROM t"], token: Self.reader)
            }),
        ]
        for (name, write) in writes {
            let reply = try await write()
            #expect(reply.status == 403, "\(name): \(reply.text)")
            #expect(reply.json.errorCode == "forbidden", "\(name): \(reply.text)")
            let message = reply.json?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("read-only") && message.contains("writes"), "\(name): \(message)")
        }
        let imported = try await server.request("POST", "/v1/bundle", data: Data(bundle), token: Self.reader)
        #expect(imported.status == 403, "\(imported.text)")
        #expect(imported.json.errorCode == "forbidden")

        let after = server.node.store.summary
        #expect(after.entryCount == before.entryCount)
        #expect(after.stateHash == before.stateHash)
        #expect(after.tableCount == before.tableCount)
        #expect(try await server.sql("SELECT id, v FROM t").json?["rows"] == .array([.array([.number("1"), .string("one")])]))

        // The same requests with a read-write token write.
        let insert = try await server.sql("INSERT INTO t VALUES (2, 'two')", token: Self.writer)
        #expect(insert.status == 200 && insert.json?["entry"]?.stringValue != nil, "\(insert.text)")
        let mixed = try await server.transaction(["SELECT count(*) FROM t", "INSERT INTO t VALUES (4, 'four')"], token: Self.writer)
        #expect(mixed.status == 200 && mixed.json?["entry"]?.stringValue != nil, "\(mixed.text)")
        let merged = try await server.request("POST", "/v1/bundle", data: Data(bundle), token: Self.writer)
        #expect(merged.status == 200, "\(merged.text)")
        #expect(merged.json?["applied"] == .number("2"))
        #expect(server.node.store.summary.entryCount == before.entryCount + 4)
        try await server.stop()
    }

    /// A backup holds every row and the whole log: only an admin token
    /// gets one, and the node keeps no copy of it.
    @Test func onlyAnAdminTokenGetsABackup() async throws {
        let server = try await Self.server()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        _ = try await server.sql("INSERT INTO t VALUES (1, 'one')")
        for token in [Self.reader, Self.writer] {
            let refused = try await server.request("GET", "/v1/backup", token: token)
            #expect(refused.status == 403 && refused.json.errorCode == "forbidden", "\(refused.text)")
        }
        let backup = try await server.request("GET", "/v1/backup")
        #expect(backup.status == 200)
        #expect(backup.headers["p2pdb-entries"] == "2" && backup.headers["p2pdb-node"] == server.node.nodeID.hex, "\(backup.headers)")
        #expect(backup.text.hasPrefix("SQLite format 3"))
        let left = try FileManager.default.contentsOfDirectory(atPath: server.node.directory.path).filter { $0.hasPrefix("backup-") }
        #expect(left.isEmpty, "\(left)")
        try await server.stop()
    }

    @Test func anUnknownTokenGets401() async throws {
        let server = try await Self.server()
        for token in ["reader-token-012345678", "reader-token-0123456789x", Self.writer.uppercased(), ""] {
            let reply = try await server.request("GET", "/v1/status", token: token)
            #expect(reply.status == 401, "\(token)")
            #expect(reply.json.errorCode == "unauthorized")
        }
        #expect(try await server.sql("SELECT 1", token: .some(nil)).status == 401)
        try await server.stop()
    }

    /// Random requests of reads and writes of many kinds: a read-only token
    /// gets 200 exactly when every statement reads, 403 `forbidden`
    /// otherwise, and never changes the state hash or the log; a read-write
    /// token's writes do change them.
    @Test func aReadOnlyTokenNeverChangesTheState() async throws {
        let server = try await Self.server()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
        _ = try await server.sql("INSERT INTO t VALUES (1, 'one', 1), (2, 'two', 2)")
        var writerChanges = 0
        await propertyCheck(count: 60, input: zip(DrawnStatement.generator.array(of: 1...3), Gen.bool)) { input in
            let (statements, asTransaction) = input
            let texts = statements.map(\.sql)
            func send(_ token: String) async throws -> TestServer.Reply {
                if asTransaction { return try await server.transaction(texts, token: token) }
                return try await server.sql(texts.joined(separator: "; "), token: token)
            }
            let before = try await Self.state(server)
            let read = try await send(Self.reader)
            if statements.contains(where: \.writes) {
                #expect(read.status == 403 && read.json.errorCode == "forbidden", "\(texts): \(read.text)")
            } else {
                #expect(read.status == 200, "\(texts): \(read.text)")
            }
            #expect(try await Self.state(server) == before, "\(texts)")

            let written = try await send(Self.writer)
            #expect(written.status < 500, "\(texts): \(written.text)")
            let after = try await Self.state(server)
            if written.json?["entry"]?.stringValue != nil {
                #expect(after.entries == before.entries + 1, "\(texts)")
                if after.hash != before.hash { writerChanges += 1 }
            } else {
                #expect(after == before, "\(texts): \(written.text)")
            }
        }
        #expect(writerChanges > 0)
        try await server.stop()
    }

    /// The state hash and the number of entries, as a client sees them.
    struct State: Equatable {
        var hash: String
        var entries: Int
    }

    static func state(_ server: TestServer) async throws -> State {
        let status = try await server.request("GET", "/v1/status", token: reader)
        guard let hash = status.json?["state_hash"]?.stringValue, case .number(let count)? = status.json?["entries"],
            let entries = Int(count)
        else { throw P2PDBError(.invalidInput, "GET /v1/status: \(status.text)") }
        return State(hash: hash, entries: entries)
    }

    /// A bundle of two entries that the test server does not hold.
    static func bundleFromAnotherNode() async throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-other-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let other = try Node.open(DataDirectory(path: directory.path), createIfNeeded: true, options: StoreOptions(durability: .off))
        try await other.execute("CREATE TABLE o (id INTEGER PRIMARY KEY)")
        try await other.execute("INSERT INTO o VALUES (1)")
        let bundle = try await other.store.exportBundle().bytes
        try await other.close()
        return bundle
    }
}

/// A statement on `t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)`, and
/// whether it writes (even when it changes no row).
struct DrawnStatement: Sendable, CustomStringConvertible {
    var sql: String
    var writes: Bool

    var description: String { sql }

    static let reads: [@Sendable (Int) -> String] = [
        { "SELECT * FROM t WHERE id = \($0)" },
        { "SELECT count(*), sum(n) FROM t WHERE n > \($0)" },
        { "SELECT v FROM t ORDER BY n DESC LIMIT \($0 % 4 + 1)" },
        { "WITH big AS (SELECT * FROM t WHERE n >= \($0)) SELECT count(*) FROM big" },
        { "VALUES (\($0), 'x')" },
        { "EXPLAIN QUERY PLAN SELECT * FROM t WHERE n = \($0)" },
        { "SELECT group_concat(v) FROM t WHERE id IN (\($0), \($0 + 1))" },
    ]

    static let writes: [@Sendable (Int) -> String] = [
        { "INSERT INTO t VALUES (\($0 + 10), 'w\($0)', \($0))" },
        { "INSERT OR REPLACE INTO t VALUES (\($0 % 5), 'r', \($0))" },
        { "UPDATE t SET n = n + 1 WHERE id = \($0 % 5)" },
        { "UPDATE t SET v = 'none' WHERE 0 AND id = \($0)" },
        { "DELETE FROM t WHERE id = \($0 % 7)" },
        { "WITH c(x) AS (VALUES (\($0 + 40))) INSERT INTO t SELECT x, 'cte', 0 FROM c" },
        { "INSERT INTO t VALUES (\($0 + 80), 'returning', 1) RETURNING id" },
        { "CREATE TABLE IF NOT EXISTS u\($0 % 3) (id INTEGER PRIMARY KEY)" },
        { "CREATE INDEX IF NOT EXISTS t_n\($0 % 2) ON t (n)" },
        { "REPLACE INTO t VALUES (\($0 % 3), 'replaced', 0)" },
    ]

    static var generator: Generator<DrawnStatement, some SendableSequenceType> {
        zip(Gen.bool, Gen.int(in: 0...99), Gen.int(in: 0...30)).map { input in
            let (writing, kind, value) = input
            return writing
                ? DrawnStatement(sql: writes[kind % writes.count](value), writes: true)
                : DrawnStatement(sql: reads[kind % reads.count](value), writes: false)
        }
    }
}
