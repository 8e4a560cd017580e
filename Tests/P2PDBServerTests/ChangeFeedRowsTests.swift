import Foundation
import P2PDB
@testable import P2PDBServer
import P2PDBTestSupport
import Testing

/// `GET /v1/changes?since=0&include_rows=true`, tickets for `EventSource`,
/// and CORS.
@Suite("Change feed for every client")
struct ChangeFeedRowsTests {
    /// A value of a random storage class, extremes and edge cases included.
    static func value(_ random: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<9, using: &random) {
        case 0: return "NULL"
        case 1: return String(Int64.random(in: .min ... .max, using: &random))
        case 2: return ["9223372036854775807", "-9223372036854775808", "0"].randomElement(using: &random) ?? "0"
        case 3: return ["-0.0", "1.0", "1e308", "-2.5", "0.1"].randomElement(using: &random) ?? "1.0"
        case 4: return "'" + ["", "é", "e\u{301}", "日本", "a''b"].randomElement(using: &random)! + "'"
        case 5: return "'nul' || char(0) || 'end'"
        case 6: return "x'" + (0..<Int.random(in: 0...6, using: &random)).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined() + "'"
        case 7: return String(Double(Int.random(in: -1000...1000, using: &random)) / 8)
        default: return String(Int.random(in: -3...3, using: &random))
        }
    }

    /// From the first entry, every entry in log order, each change with its
    /// row as a reader sees it now (null once deleted), equal, value by
    /// value, to what `POST /v1/sql` answers for that key.
    @Test(arguments: 0..<3)
    func fromTheBeginningWithRowsAsAReaderSeesThem(seed: UInt64) async throws {
        var random = SeededGenerator(seed: 40 + seed)
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a ANY, b ANY) STRICT")
        _ = try await server.sql("CREATE TABLE \"Ünï\" (k TEXT PRIMARY KEY, v)")
        var entries = 2
        for _ in 0..<40 {
            let id = Int.random(in: 0..<12, using: &random)
            let sql: String
            switch Int.random(in: 0..<4, using: &random) {
            case 0: sql = "INSERT OR REPLACE INTO t VALUES (\(id), \(Self.value(&random)), \(Self.value(&random)))"
            case 1: sql = "UPDATE t SET a = \(Self.value(&random)) WHERE id = \(id)"
            case 2: sql = "DELETE FROM t WHERE id = \(id)"
            default: sql = "INSERT OR REPLACE INTO \"Ünï\" VALUES ('k\(id % 3)', \(Self.value(&random)))"
            }
            let reply = try await server.sql(sql)
            #expect(reply.status == 200, "\(sql): \(reply.text)")
            if reply.json?["entry"]?.stringValue != nil { entries += 1 }
        }
        let url = URL(string: server.baseURL.absoluteString + "/v1/changes?since=0&include_rows=true")!
        let client = EventStreamClient(url: url, token: server.token)
        let events = await client.events(entries)
        client.close()
        #expect(events.count == entries)
        let log = try await server.request("GET", "/v1/entries?limit=1000").json?["entries"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(events.map(\.id) == log?.map(Optional.some))
        for event in events {
            for change in event.json?["changes"]?.arrayValue ?? [] {
                let table = try #require(change["table"]?.stringValue)
                guard case .object(let key)? = change["key"], let (column, value) = key.first else { continue }
                let query = "SELECT * FROM \(SQLText.quoteIdentifier(table)) WHERE \(SQLText.quoteIdentifier(column)) = ?"
                let answer = try #require(try await server.sql(query, params: JSON.array([value]).text).json)
                let expected: JSON
                if let row = answer["rows"]?.arrayValue?.first?.arrayValue, let columns = answer["columns"]?.arrayValue {
                    expected = .object(zip(columns, row).map { ($0.stringValue ?? "", $1) })
                } else {
                    expected = .null
                }
                #expect(change["row"] == expected, "seed \(seed): \(change.text)")
            }
        }
        try await server.stop()
    }

    @Test func theLiveFeedCarriesTheRowAfterEachWrite() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER, price REAL)")
        let client = EventStreamClient(url: URL(string: server.baseURL.absoluteString + "/v1/changes?include_rows=true")!, token: server.token)
        try await Task.sleep(for: .milliseconds(200))
        _ = try await server.sql("INSERT INTO stock VALUES ('apple', 5, 1.0)")
        _ = try await server.sql("UPDATE stock SET qty = qty - 2 WHERE sku = 'apple'")
        _ = try await server.sql("DELETE FROM stock WHERE sku = 'apple'")
        let events = await client.events(3)
        client.close()
        let rows = events.map { $0.json?["changes"]?.arrayValue?.first?["row"] }
        // Each event is read as it is sent; by the last, the row is gone.
        #expect(rows.last == .null)
        #expect(events.first?.json?["changes"]?.arrayValue?.first?["op"]?.stringValue == "insert")
        for row in rows.dropLast() {
            #expect(row == .null || row == JSON.object([("sku", .string("apple")), ("qty", .number("5")), ("price", .number("1.0"))])
                || row == JSON.object([("sku", .string("apple")), ("qty", .number("3")), ("price", .number("1.0"))]))
        }
        try await server.stop()
    }

    @Test func wrongFeedParametersAreRefused() async throws {
        let server = try await TestServer()
        for query in ["since=yesterday", "since=1", "include_rows=yes", "since=0&after=\(String(repeating: "ab", count: 32))"] {
            let reply = try await server.request("GET", "/v1/changes?\(query)")
            #expect(reply.status == 400, "\(query): \(reply.text)")
            #expect(reply.json?["error"]?["code"]?.stringValue == "invalid_input", "\(query)")
        }
        try await server.stop()
    }

    /// A browser's EventSource cannot send a token: it asks for a ticket
    /// with the token, then opens the stream with the ticket in the URL.
    @Test func aTicketOpensTheFeedAndNothingElse() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        #expect(try await server.request("POST", "/v1/tickets", token: .some(nil)).status == 401)
        let issued = try await server.request("POST", "/v1/tickets")
        #expect(issued.status == 200)
        let ticket = try #require(issued.json?["ticket"]?.stringValue)
        #expect(issued.json?["expires_in"] == .number("60"))

        let feed = EventStreamClient(url: URL(string: server.baseURL.absoluteString + "/v1/changes?since=0&ticket=\(ticket)")!, token: nil)
        let events = await feed.events(1)
        #expect(feed.httpStatus == 200)
        #expect(events.count == 1)
        feed.close()

        // A ticket is no token: it opens no other path, and a changed one opens nothing.
        #expect(try await server.request("GET", "/v1/status?ticket=\(ticket)", token: .some(nil)).status == 401)
        #expect(try await server.request("POST", "/v1/changes?ticket=\(ticket)", token: .some(nil)).status == 401)
        var forged = Array(ticket)
        forged[forged.count - 3] = forged[forged.count - 3] == "A" ? "B" : "A"
        #expect(try await server.request("GET", "/v1/changes?ticket=\(String(forged))", token: .some(nil)).status == 401)
        let upgraded = ticket.replacingOccurrences(of: ".read-only.", with: ".admin.")
        #expect(try await server.request("GET", "/v1/changes?ticket=\(upgraded)", token: .some(nil)).status == 401)
        try await server.stop()
    }

    @Test func ticketsExpireAndAreBoundToTheirIssuer() throws {
        let issuer = StreamTicketIssuer(lifetime: .seconds(60))
        let (ticket, expires) = issuer.issue(role: .readOnly, now: 1_000_000)
        #expect(expires == 1_060_000)
        #expect(issuer.role(of: ticket, now: 1_059_999) == .readOnly)
        #expect(issuer.role(of: ticket, now: 1_060_001) == nil)
        #expect(StreamTicketIssuer().role(of: ticket, now: 1_000_001) == nil)
        for malformed in ["", ".", "v1", "v1...", "v2.1060000.read-only.AAAA", ticket + "x", String(ticket.dropLast(2))] {
            #expect(issuer.role(of: malformed, now: 1_000_001) == nil, "\(malformed)")
        }
    }

    /// With --cors-origin, pages of that origin may call the API (a
    /// preflight needs no token); without it, no CORS header is sent.
    @Test func corsHeadersOnlyForTheConfiguredOrigin() async throws {
        let origin = "https://office.example"
        let open = try await TestServer { $0.corsOrigin = origin }
        let preflight = try await open.request(
            "OPTIONS", "/v1/sql", token: .some(nil),
            headers: ["Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"])
        #expect(preflight.status < 300, "\(preflight.status)")
        #expect(preflight.headers["access-control-allow-origin"] == origin)
        #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true)
        let status = try await open.request("GET", "/v1/status", headers: ["Origin": origin])
        #expect(status.status == 200 && status.headers["access-control-allow-origin"] == origin)
        let refused = try await open.request("GET", "/v1/status", token: .some(nil), headers: ["Origin": origin])
        #expect(refused.status == 401 && refused.headers["access-control-allow-origin"] == origin)
        try await open.stop()

        let closed = try await TestServer()
        let plain = try await closed.request("GET", "/v1/status", headers: ["Origin": origin])
        #expect(plain.status == 200 && plain.headers["access-control-allow-origin"] == nil)
        try await closed.stop()
    }
}
