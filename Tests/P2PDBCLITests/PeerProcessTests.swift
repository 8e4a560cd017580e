import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// `p2pdb` run through `ip netns exec` when a namespace is given.
func p2pdb(in namespace: String?, _ arguments: String...) throws -> CommandOutput {
    guard let namespace else { return try p2pdb(arguments: arguments) }
    return try ChildProcess.run("/usr/sbin/ip", ["netns", "exec", namespace, p2pdbBinary.path] + arguments)
}

/// One `p2pdb serve` with a peer endpoint, and its data directory.
final class PeerNode {
    let directory: String
    let peerAddress: String
    let namespace: String?
    var process: ServeProcess?
    private let arguments: [String]
    private let stderr: ChildProcess.Stream

    init(
        directory: String, host: String = "127.0.0.1", join: [PeerNode] = [], extra: [String] = [], namespace: String? = nil,
        stderr: ChildProcess.Stream = .null
    ) throws {
        self.directory = directory
        self.namespace = namespace
        self.stderr = stderr
        peerAddress = "\(host):\(try freePort())"
        arguments = ["--listen", peerAddress, "--anti-entropy-interval", "300"] + join.flatMap { ["--join", $0.peerAddress] } + extra
        try start()
    }

    func start() throws { process = try ServeProcess(data: directory, arguments: arguments, namespace: namespace, stderr: stderr) }

    func kill9() {
        process?.stop(SIGKILL)
        process = nil
    }

    deinit { kill9() }

    func sql(_ sql: String) throws -> CommandOutput { try p2pdb(in: namespace, "sql", "--data", directory, "--json", sql) }

    func status() throws -> JSON {
        try JSON.parse(try p2pdb(in: namespace, "status", "--data", directory, "--json").stdout)
    }

    var stateHash: String? { (try? status())?["state_hash"]?.stringValue }
    var entries: String? { (try? status())?["entries"].map(\.text) }

    func count(_ table: String) throws -> Int {
        let rows = try JSON.parse(try sql("SELECT count(*) FROM \(table)").stdout)["rows"]
        guard case .array(let items)? = rows, case .array(let cells)? = items.first, case .number(let text)? = cells.first else { return -1 }
        return Int(text) ?? -1
    }
}

/// Polls until every node reports the same state hash and log size.
func converged(_ nodes: [PeerNode], timeout: TimeInterval = 30) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let hashes = Set(nodes.map { $0.stateHash ?? "?" })
        let sizes = Set(nodes.map { $0.entries ?? "?" })
        if hashes.count == 1, sizes.count == 1, !hashes.contains("?") { return true }
        usleep(100_000)
    }
    return false
}

@Suite("Peer replication between p2pdb serve processes", .serialized)
struct PeerProcessTests {
    @Test func threeNodesConvergeUnderConcurrentWritesAtEveryNode() async throws {
        let temp = try TemporaryDirectory()
        let a = try PeerNode(directory: temp.path("a"))
        let b = try PeerNode(directory: temp.path("b"), join: [a])
        let c = try PeerNode(directory: temp.path("c"), join: [a])
        defer { for node in [a, b, c] { node.kill9() } }
        #expect(try a.sql("CREATE TABLE sales (id TEXT PRIMARY KEY, node TEXT)").status == 0)
        #expect(try a.sql("CREATE TABLE stock (sku TEXT PRIMARY KEY, units COUNTER INTEGER NOT NULL DEFAULT 0)").status == 0)
        #expect(try a.sql("INSERT INTO stock VALUES ('apple', 500)").status == 0)
        #expect(converged([a, b, c]))
        let nodes = [("a", a.directory), ("b", b.directory), ("c", c.directory)]
        DispatchQueue.concurrentPerform(iterations: 3) { index in
            let (name, directory) = nodes[index]
            for n in 0..<25 {
                _ = try? p2pdb(
                    "sql", "--data", directory,
                    "INSERT INTO sales VALUES ('\(name)-\(n)', '\(name)'); UPDATE stock SET units = units - 1 WHERE sku = 'apple'")
            }
        }
        #expect(converged([a, b, c]))
        for node in [a, b, c] {
            #expect(try node.count("sales") == 75)
            #expect(try JSON.parse(try node.sql("SELECT units FROM stock").stdout)["rows"] == .array([.array([.number("425")])]))
            // b and c learn of each other from a; under load their link
            // may come up after the data has converged through a.
            let deadline = Date().addingTimeInterval(30)
            var connected = 0
            repeat {
                if case .array(let peers)? = try node.status()["peers"] {
                    connected = peers.filter { $0["connected"] == .bool(true) }.count
                }
                if connected == 2 { break }
                usleep(200_000)
            } while Date() < deadline
            #expect(connected == 2)
        }
    }

    @Test func aLineOfNodesBridgesWrites() async throws {
        let temp = try TemporaryDirectory()
        // A and C hold one peer each: they learn of each other through
        // peer exchange but cannot connect, so B must relay.
        let b = try PeerNode(directory: temp.path("b"))
        let a = try PeerNode(directory: temp.path("a"), join: [b], extra: ["--max-peers", "1"])
        let c = try PeerNode(directory: temp.path("c"), join: [b], extra: ["--max-peers", "1"])
        defer { for node in [a, b, c] { node.kill9() } }
        #expect(try a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").status == 0)
        #expect(try a.sql("INSERT INTO t VALUES (1, 'written at a')").status == 0)
        #expect(converged([a, b, c]))
        #expect(try JSON.parse(try c.sql("SELECT v FROM t").stdout)["rows"] == .array([.array([.string("written at a")])]))
        guard case .array(let peersOfC)? = try c.status()["peers"] else { Issue.record("no peers"); return }
        let connected = peersOfC.filter { $0["connected"] == .bool(true) }
        #expect(connected.count == 1)
        #expect(connected.first?["address"]?.stringValue == b.peerAddress)
    }

    @Test func aKilledNodeCatchesUpAndAWipedNodeRebuilds() async throws {
        let temp = try TemporaryDirectory()
        let a = try PeerNode(directory: temp.path("a"))
        let b = try PeerNode(directory: temp.path("b"), join: [a])
        defer { for node in [a, b] { node.kill9() } }
        #expect(try a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").status == 0)
        for id in 0..<20 { _ = try a.sql("INSERT INTO t VALUES (\(id), 'before')") }
        #expect(converged([a, b]))

        b.kill9()
        for id in 20..<120 { _ = try a.sql("INSERT INTO t VALUES (\(id), 'while b was down')") }
        let restarted = Date()
        try b.start()
        #expect(converged([a, b]))
        print("catch-up took \(Date().timeIntervalSince(restarted)) s")
        #expect(try b.count("t") == 120)

        // Lose b's disk: a new, empty node rebuilds everything from a.
        b.process?.stop(SIGTERM)
        try FileManager.default.removeItem(atPath: b.directory)
        let started = Date()
        try b.start()
        #expect(converged([a, b]))
        #expect(try b.count("t") == 120)
        print("rebuild took \(Date().timeIntervalSince(started)) s")
        for node in [a, b] {
            node.process?.stop(SIGTERM)
            #expect(try p2pdb(in: nil, "verify", "--data", node.directory).status == 0)
        }
    }

    /// `/v1/status` says of each address why the last dial failed (a
    /// closed port, a plain HTTP server), and of a live peer its round trip
    /// and last contact; the failed dial is a warning in the log.
    @Test func statusTellsWhyEachAddressFailedAndHowALivePeerAnswers() async throws {
        let temp = try TemporaryDirectory()
        let closed = try NonPeerServer(.silent)
        closed.stop()
        let http = try NonPeerServer(.http)
        defer { http.stop() }
        let (closedAddress, httpAddress) = ("127.0.0.1:\(closed.port)", "127.0.0.1:\(http.port)")
        let a = try PeerNode(directory: temp.path("a"))
        try Data().write(to: URL(fileURLWithPath: temp.path("b.log")))
        let b = try PeerNode(
            directory: temp.path("b"), join: [a], extra: ["--join", closedAddress, "--join", httpAddress], stderr: .file(temp.path("b.log")))
        defer { for node in [a, b] { node.kill9() } }

        var peers: [String: JSON] = [:]
        let deadline = Date().addingTimeInterval(30)
        repeat {
            if case .array(let items)? = try b.status()["peers"] {
                peers = Dictionary(items.compactMap { item in item["address"]?.stringValue.map { ($0, item) } }) { first, _ in first }
            }
            if peers[closedAddress]?["last_error"] != .null, peers[httpAddress]?["last_error"] != .null,
                peers[a.peerAddress]?["round_trip_ms"] != .null
            {
                break
            }
            usleep(200_000)
        } while Date() < deadline

        let refused = try #require(peers[closedAddress])
        #expect(refused["connected"] == .bool(false))
        #expect(refused["last_error"] == .string("connection refused (nothing listens on that port)"))
        #expect(refused["last_error_at"]?.stringValue.flatMap(Timestamps.milliseconds(iso8601:)) != nil)
        #expect(refused["last_contact"] == .null)
        let notAPeer = try #require(peers[httpAddress])
        #expect(notAPeer["last_error"]?.stringValue?.hasPrefix("not a P2PDB peer: ") == true, "\(notAPeer)")
        let live = try #require(peers[a.peerAddress])
        #expect(live["connected"] == .bool(true))
        #expect(live["round_trip_ms"]?.intValue != nil, "\(live)")
        #expect(live["last_contact"]?.stringValue.flatMap(Timestamps.milliseconds(iso8601:)) != nil, "\(live)")
        #expect(live["last_error"] == .null)

        let text = try p2pdb(in: nil, "status", "--data", b.directory).stdout
        #expect(text.contains("\(closedAddress), not connected, seed, last error "), "\(text)")
        #expect(text.contains("\(a.peerAddress), connected, node "), "\(text)")
        let log = (try? String(contentsOfFile: temp.path("b.log"), encoding: .utf8)) ?? ""
        let warnings = log.split(separator: "\n").filter { $0.contains("warning") && $0.contains("cannot reach peer \(closedAddress)") }
        #expect(warnings.count == 1, "\(log)")
        #expect(warnings.first?.contains("(attempt 1): connection refused") == true, "\(log)")
    }

    @Test(.enabled(if: NetworkNamespaces.available, "needs root and iproute2 network namespaces"))
    func groupsCutApartConvergeWhenHealed() async throws {
        let temp = try TemporaryDirectory()
        let namespaces = try NetworkNamespaces()
        defer { namespaces.remove() }
        let a1 = try PeerNode(directory: temp.path("a1"), host: namespaces.addressA, namespace: namespaces.a)
        let a2 = try PeerNode(directory: temp.path("a2"), host: namespaces.addressA, join: [a1], namespace: namespaces.a)
        let b1 = try PeerNode(directory: temp.path("b1"), host: namespaces.addressB, join: [a1], namespace: namespaces.b)
        let b2 = try PeerNode(directory: temp.path("b2"), host: namespaces.addressB, join: [a1, b1], namespace: namespaces.b)
        let all = [a1, a2, b1, b2]
        defer { for node in all { node.kill9() } }
        #expect(try a1.sql("CREATE TABLE items (sku TEXT PRIMARY KEY, name TEXT, units COUNTER INTEGER NOT NULL DEFAULT 0)").status == 0)
        #expect(try a1.sql("INSERT INTO items VALUES ('apple', 'Apple', 10), ('pear', 'Pear', 10)").status == 0)
        #expect(converged(all))

        try namespaces.cut()
        #expect(try a1.sql("UPDATE items SET units = units - 2 WHERE sku = 'apple'").status == 0)
        #expect(try a2.sql("UPDATE items SET name = 'Green apple' WHERE sku = 'apple'").status == 0)
        #expect(try b1.sql("UPDATE items SET units = units - 3 WHERE sku = 'apple'").status == 0)
        #expect(try b2.sql("DELETE FROM items WHERE sku = 'pear'").status == 0)
        #expect(converged([a1, a2]))
        #expect(converged([b1, b2]))
        #expect(a1.stateHash != b1.stateHash)

        try namespaces.heal()
        #expect(converged(all, timeout: 60))
        for node in all {
            #expect(try JSON.parse(try node.sql("SELECT sku, name, units FROM items").stdout)["rows"]
                == .array([.array([.string("apple"), .string("Green apple"), .number("5")])]))
        }
        for node in all { node.process?.stop(SIGTERM) }
    }

    @Test(.enabled(if: NetworkNamespaces.available, "needs root and iproute2 network namespaces"))
    func nodesOnTheSameLANFindEachOtherWithMDNS() async throws {
        let temp = try TemporaryDirectory()
        let namespaces = try NetworkNamespaces()
        defer { namespaces.remove() }
        // No --join: each finds the other by multicast across the veth link.
        let a = try PeerNode(directory: temp.path("a"), host: namespaces.addressA, extra: ["--mdns"], namespace: namespaces.a)
        let b = try PeerNode(directory: temp.path("b"), host: namespaces.addressB, extra: ["--mdns"], namespace: namespaces.b)
        defer { for node in [a, b] { node.kill9() } }
        #expect(try a.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").status == 0)
        #expect(try b.sql("CREATE TABLE u (id INTEGER PRIMARY KEY)").status == 0)
        #expect(converged([a, b], timeout: 30))
        guard case .array(let peers)? = try b.status()["peers"] else { Issue.record("no peers"); return }
        #expect(peers.contains { $0["source"]?.stringValue == "mdns" || $0["source"]?.stringValue == "inbound" })
        for node in [a, b] { node.process?.stop(SIGTERM) }
    }
}

/// Two network namespaces joined by a veth pair whose link can be cut and
/// healed. Nothing leaves the machine: the namespaces hold only each other.
final class NetworkNamespaces {
    let a: String
    let b: String
    let addressA = "10.231.0.1"
    let addressB = "10.231.0.2"
    private let vethA: String
    private let vethB: String

    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
    }

    init() throws {
        Self.removeStale()
        let tag = String(getpid() % 100_000)
        a = "p2pdb-a-\(tag)"
        b = "p2pdb-b-\(tag)"
        vethA = "p2a\(tag)"
        vethB = "p2b\(tag)"
        try Self.ip("netns", "add", a)
        try Self.ip("netns", "add", b)
        try Self.ip("link", "add", vethA, "type", "veth", "peer", "name", vethB)
        try Self.ip("link", "set", vethA, "netns", a)
        try Self.ip("link", "set", vethB, "netns", b)
        for (namespace, device, address) in [(a, vethA, addressA), (b, vethB, addressB)] {
            try Self.ip("netns", "exec", namespace, "ip", "addr", "add", "\(address)/24", "dev", device)
            try Self.ip("netns", "exec", namespace, "ip", "link", "set", device, "up")
            try Self.ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        }
    }

    func cut() throws { try Self.ip("netns", "exec", a, "ip", "link", "set", vethA, "down") }
    func heal() throws { try Self.ip("netns", "exec", a, "ip", "link", "set", vethA, "up") }

    func remove() {
        _ = try? Self.ip("netns", "del", a)
        _ = try? Self.ip("netns", "del", b)
    }

    /// Namespaces and links left by a test run that died: their processes
    /// are killed and they are deleted, or their addresses would clash.
    static func removeStale() {
        guard let text = try? ChildProcess.run("/usr/sbin/ip", ["netns", "list"]).stdout else { return }
        for line in text.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix("p2pdb-"), let tag = name.split(separator: "-").last, let pid = Int32(tag),
                kill(pid, 0) != 0
            else { continue }
            if let found = try? ChildProcess.run("/usr/sbin/ip", ["netns", "pids", name]).stdout {
                for process in found.split(separator: "\n").compactMap({ Int32($0) }) { kill(process, SIGKILL) }
            }
            _ = try? ip("netns", "del", name)
            for prefix in ["cra", "crb", "p2a", "cpa"] { _ = try? ip("link", "del", "\(prefix)\(tag)") }
        }
    }

    @discardableResult
    static func ip(_ arguments: String...) throws -> Int32 {
        let process = try ChildProcess("/usr/sbin/ip", arguments)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw P2PDBError(.unavailable, "ip \(arguments.joined(separator: " ")) failed")
        }
        return process.terminationStatus
    }
}
