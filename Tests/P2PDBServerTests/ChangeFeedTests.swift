import Foundation
import P2PDB
import Testing

@Suite("Change feed (Server-Sent Events)")
struct ChangeFeedTests {
    @Test func eventsResumeAfterADroppedConnectionWithoutGapsOrRepeats() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let url = URL(string: server.baseURL.absoluteString + "/v1/changes")!
        let first = EventStreamClient(url: url, token: server.token)
        try await Task.sleep(for: .milliseconds(200))
        var written: [String] = []
        for index in 0..<3 {
            written.append(try #require(try await server.sql("INSERT INTO t VALUES (\(index), 'a')").json?["entry"]?.stringValue))
        }
        let seen = await first.events(3)
        #expect(first.httpStatus == 200)
        #expect(seen.map(\.id) == written)
        #expect(seen.first?.json?["changes"]?.text.contains(#""op":"insert""#) == true)
        first.close()

        // Written while the client is away.
        for index in 3..<7 {
            written.append(try #require(try await server.sql("INSERT INTO t VALUES (\(index), 'b')").json?["entry"]?.stringValue))
        }
        let resumed = EventStreamClient(url: url, token: server.token, lastEventID: seen.last?.id)
        let caughtUp = await resumed.events(4)
        #expect(caughtUp.map(\.id) == Array(written[3...]))
        written.append(try #require(try await server.sql("UPDATE t SET v = 'c' WHERE id = 0").json?["entry"]?.stringValue))
        let live = await resumed.events(1)
        #expect(live.map(\.id) == [written.last])
        let extra = await resumed.events(1, timeout: .milliseconds(300))
        #expect(extra.isEmpty)
        resumed.close()
        try await server.stop()
    }

    @Test func tableFilterAndUnknownResumePoint() async throws {
        let server = try await TestServer()
        _ = try await server.sql("CREATE TABLE a (id INTEGER PRIMARY KEY)")
        _ = try await server.sql("CREATE TABLE b (id INTEGER PRIMARY KEY)")
        let start = try #require(try await server.sql("INSERT INTO a VALUES (0)").json?["entry"]?.stringValue)
        let url = URL(string: server.baseURL.absoluteString + "/v1/changes?table=b&after=\(start)")!
        let client = EventStreamClient(url: url, token: server.token)
        _ = try await server.sql("INSERT INTO a VALUES (1)")
        let wanted = try #require(try await server.sql("INSERT INTO b VALUES (1)").json?["entry"]?.stringValue)
        _ = try await server.sql("INSERT INTO a VALUES (2)")
        let events = await client.events(2, timeout: .seconds(2))
        #expect(events.map(\.id) == [wanted])
        client.close()

        let unknown = try await server.request(
            "GET", "/v1/changes", headers: ["Last-Event-ID": String(repeating: "ef", count: 32)])
        #expect(unknown.status == 404)
        try await server.stop()
    }

    @Test func idleFeedsSendHeartbeatsAndEndAtShutdown() async throws {
        let server = try await TestServer(heartbeat: .milliseconds(100))
        let url = URL(string: server.baseURL.absoluteString + "/v1/changes")!
        let client = EventStreamClient(url: url, token: server.token)
        // Generous: the suite shares two cores with everything else.
        let deadline = ContinuousClock.now + .seconds(30)
        while !client.received.contains(": keep-alive"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(client.httpStatus == 200)
        #expect(client.received.contains(": keep-alive\n\n"))
        // The server stops even with a feed open.
        try await server.stop()
        client.close()
    }
}
