import Foundation
import Logging
import P2PDB
import P2PDBSync
import Synchronization
import Testing

@testable import P2PDBPeerGRPC

/// Log lines kept in memory, to check that refusals are explained.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])

    func logger(_ label: String) -> Logger {
        Logger(label: label) { _ in CapturingHandler(capture: self) }
    }

    func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }
}

@Suite("Byzantine peers")
struct ByzantinePeerTests {
    /// An honest node on the real transport, with an honest peer beside it.
    struct HonestNode {
        let node: Node
        let engine: SyncEngine
        let task: Task<Void, any Error>
        let address: String
        let root: URL

        init(join: [String] = [], logs: LogCapture) async throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-byz-\(UUID().uuidString)")
            node = try Node.open(
                DataDirectory(path: root.path), createIfNeeded: true,
                options: StoreOptions(durability: .off, maximumPending: 500))
            let transport = try GRPCPeerTransport(key: try node.directory.loadKey(), listen: ("127.0.0.1", 0), logger: logs.logger("peer"))
            engine = SyncEngine(
                node: node, transport: transport,
                configuration: SyncConfiguration(seeds: join, antiEntropyInterval: 200, deadPeerTimeout: 60_000, tickInterval: 50),
                logger: logs.logger("sync"))
            let engine = self.engine
            task = Task { try await engine.run() }
            var bound: String?
            for _ in 0..<400 where bound == nil {
                bound = await transport.listenAddress
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            address = try #require(bound)
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
            try? await node.close()
            try? FileManager.default.removeItem(at: root)
        }
    }

    @Test func honestNodesSurviveEveryKindOfHostilePeer() async throws {
        let logs = LogCapture()
        let honest = try await HonestNode(logs: logs)
        let neighbour = try await HonestNode(join: [honest.address], logs: LogCapture())
        try await honest.node.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

        let attacker = NodeKey()
        let transport = try GRPCPeerTransport(key: attacker, listen: nil)
        let connection = try await SyncTests.dial(honest.address, from: transport)
        try await connection.send(.hello(Hello(nodeID: attacker.nodeID, listenAddress: nil)))
        // Entries that follow the honest node's schema entry.
        let base = try await honest.node.store.entries(after: 0, limit: 10).map(\.entry)
        let table = TableChanges(
            table: "t", primaryKeyColumns: ["id"], columns: ["v"],
            rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.integer(1)], values: [ColumnValue(column: 0, value: "evil")])])
        let valid = Entry.make(author: attacker, seq: 1, lamport: 2, parents: base.map(\.id), wallTime: 0, payload: EntryPayload(tableChanges: [table]))

        // Forged: signed by the attacker, claiming another author.
        var forged = valid.bytes
        let victim = NodeKey().nodeID.raw.bytes
        let authorOffset = EntryCodec.magic.count + 1
        forged.replaceSubrange(authorOffset..<(authorOffset + 32), with: victim)
        // Tampered: one byte of the payload changed after signing.
        var tampered = valid.bytes
        tampered[tampered.count - 70] ^= 0xFF
        // Unknown parents: validly signed, parents nobody has.
        let orphan = Entry.make(
            author: attacker, seq: 1, lamport: 9, parents: [EntryID(Bytes32(word0: 1, word1: 2, word2: 3, word3: 4))], wallTime: 0,
            payload: EntryPayload(tableChanges: [table]))
        // Equivocation: two different entries with seq 1.
        var otherTable = table
        otherTable.rows[0].values = [ColumnValue(column: 0, value: "other")]
        let twin = Entry.make(
            author: attacker, seq: 1, lamport: 2, parents: base.map(\.id), wallTime: 1, payload: EntryPayload(tableChanges: [otherTable]))
        let garbage = (0..<300).map { _ in UInt8.random(in: 0...255) }

        for bodies in [[forged], [tampered], [garbage], [orphan.bytes], [valid.bytes], [twin.bytes]] {
            try await connection.send(.entries(bodies))
        }
        // A flood of summaries and pulls.
        for _ in 0..<2_000 { _ = connection.offer(.pull(have: VersionVector())) }

        #expect(await eventually(timeout: .seconds(20)) { (try? await honest.node.status().equivocations.count) == 1 })
        #expect(await eventually { logs.contains("refused an entry") })
        #expect(logs.contains("forged or tampered"))
        #expect(logs.contains("malformed"))

        connection.close()
        // An oversized message ends its session, with a reason.
        let second = try await SyncTests.dial(honest.address, from: transport)
        try await second.send(.hello(Hello(nodeID: attacker.nodeID, listenAddress: nil)))
        try? await second.send(.entries(Array(repeating: valid.bytes, count: SyncLimits.maximumEntriesPerMessage + 1)))
        #expect(await eventually(timeout: .seconds(60)) { logs.contains("entries in one message") })
        second.close()

        // Garbage bytes at the TLS port, and a connection that never speaks.
        let (host, port) = try GRPCPeerTransport.parse(honest.address)
        let silent = try RawSocket(host: host, port: port)
        let noisy = try RawSocket(host: host, port: port)
        noisy.write((0..<4096).map { _ in UInt8.random(in: 0...255) })

        // Honest work goes on: local writes, and replication with the
        // honest neighbour both ways.
        try await honest.node.execute("INSERT INTO t VALUES (100, 'honest')")
        try await neighbour.node.execute("CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY)")
        try await neighbour.node.execute("INSERT INTO u VALUES (1)")
        #expect(await eventually(timeout: .seconds(20)) {
            guard honest.node.store.summary.stateHash == neighbour.node.store.summary.stateHash else { return false }
            return (try? await neighbour.node.query("SELECT v FROM t WHERE id = 100").rows) == [[.text("honest")]]
        })
        // Nothing invalid was stored: every entry verifies, and the forged
        // and tampered bytes are nowhere.
        for node in [honest.node, neighbour.node] {
            #expect(try await node.store.verify().isValid)
            let held = try await node.store.held([EntryID(Signatures.sha256(forged)), EntryID(Signatures.sha256(tampered))])
            #expect(held.isEmpty)
        }
        silent.close()
        noisy.close()
        await neighbour.stop()
        await honest.stop()
    }
}

extension ByzantinePeerTests {
    /// An author with a valid key is hostile too: clocks that leap or
    /// overflow, a flood of entries whose parents never come, a message
    /// larger than the transport carries.
    @Test func validlySignedHostileEntriesAreRefusedAndBounded() async throws {
        let logs = LogCapture()
        let honest = try await HonestNode(logs: logs)
        try await honest.node.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        let base = try await honest.node.store.entries(after: 0, limit: 10).map(\.entry)
        let attacker = NodeKey()
        let transport = try GRPCPeerTransport(key: attacker, listen: nil)
        let connection = try await SyncTests.dial(honest.address, from: transport)
        try await connection.send(.hello(Hello(nodeID: attacker.nodeID, listenAddress: nil)))
        func row(_ id: Int64) -> TableChanges {
            TableChanges(
                table: "t", primaryKeyColumns: ["id"], columns: ["v"],
                rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.integer(id)], values: [ColumnValue(column: 0, value: "evil")])])
        }
        let parentLamport = base.map(\.lamport).max() ?? 1
        // A clock far ahead would win every register from then on.
        let leaping = Entry.make(
            author: attacker, seq: 1, lamport: parentLamport + (1 << 40), parents: base.map(\.id), wallTime: 0,
            payload: EntryPayload(tableChanges: [row(1)]))
        // A clock past 2^62 would overflow SQLite's integers.
        let overflowing = Entry.make(
            author: attacker, seq: 1, lamport: UInt64.max, parents: base.map(\.id), wallTime: 0,
            payload: EntryPayload(tableChanges: [row(2)]))
        try await connection.send(.entries([leaping.bytes]))
        try await connection.send(.entries([overflowing.bytes]))
        #expect(await eventually { logs.contains("leaps") })
        #expect(await eventually { logs.contains("above 2^62") })

        // Orphans by the thousand: the waiting room stays bounded (500 here).
        for batch in 0..<4 {
            let orphans = (0..<500).map { index in
                Entry.make(
                    author: attacker, seq: UInt64(2 + batch * 500 + index), lamport: 100,
                    parents: [EntryID(Bytes32(word0: UInt64(batch), word1: UInt64(index), word2: 7, word3: 7))], wallTime: 0,
                    payload: EntryPayload(tableChanges: [row(Int64(10 + batch * 500 + index))]))
            }
            try await connection.send(.entries(orphans.map(\.bytes)))
        }
        #expect(await eventually { logs.contains("already wait for theirs") })
        #expect(try await honest.node.store.pendingCount() <= 500)

        // One entry larger than a message: the transport refuses it and the
        // session ends; the node goes on.
        let huge = Entry.make(
            author: attacker, seq: 1, lamport: parentLamport + 1, parents: base.map(\.id), wallTime: 0,
            payload: EntryPayload(tableChanges: [
                TableChanges(
                    table: "t", primaryKeyColumns: ["id"], columns: ["v"],
                    rows: [RowChange(kind: .insert, causalLength: 1, primaryKey: [.integer(3)], values: [ColumnValue(column: 0, value: .blob(Array(repeating: 1, count: 17 << 20)))])])
            ]))
        // The flood got the first session ended (too many refused entries).
        connection.close()
        let second = try await SyncTests.dial(honest.address, from: transport)
        try await second.send(.hello(Hello(nodeID: attacker.nodeID, listenAddress: nil)))
        try? await second.send(.entries([huge.bytes]))
        var ended = false
        do {
            for try await _ in second.inbound {}
            ended = true
        } catch {
            ended = true
        }
        #expect(ended)
        try await honest.node.execute("INSERT INTO t VALUES (100, 'honest')")
        #expect(try await honest.node.query("SELECT v FROM t ORDER BY id").rows == [[.text("honest")]])
        #expect(try await honest.node.store.verify().isValid)
        #expect(try await honest.node.store.held([leaping.id, overflowing.id, huge.id]).isEmpty)
        second.close()
        await honest.stop()
    }
}

/// A plain TCP connection, for bytes that are not TLS at all.
final class RawSocket: Sendable {
    let descriptor: Int32

    init(host: String, port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw P2PDBError(.unavailable, "cannot connect to \(host):\(port)") }
    }

    func write(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    func close() { Glibc.close(descriptor) }
}
