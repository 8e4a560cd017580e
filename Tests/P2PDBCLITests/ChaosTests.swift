import Foundation
import P2PDB
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Chaos on real processes: five `p2pdb serve` nodes in two network
/// namespaces, clients writing over HTTP, nodes killed with SIGKILL and
/// restarted, the link between the groups cut and healed. Then the checker
/// compares every node with what the clients saw acknowledged.
///
/// The suite runs a short round; `P2PDB_CHAOS_SECONDS=600 swift test
/// --filter ChaosTests` runs a long one (see docs/RELIABILITY.md).
@Suite("Chaos on real processes", .serialized)
struct ChaosTests {
    /// In open mode, and in a private network (node 0 an admin, the others
    /// writers) where node 0 revokes node 4 halfway through, while clients
    /// keep writing to it, and admits it again after the chaos.
    @Test(.enabled(if: NetworkNamespaces.available, "needs root and iproute2 network namespaces"), arguments: [false, true])
    func killsCutsAndHealsKeepEveryAcknowledgedWrite(privateNetwork: Bool) async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["P2PDB_CHAOS_SECONDS"] ?? "") ?? 20
        let temp = try TemporaryDirectory()
        let network = try ChaosNetwork()
        defer { network.remove() }
        var ids: [String] = []
        var membership: [[String]] = Array(repeating: [], count: 5)
        if privateNetwork {
            let key = temp.path("shop.key"), descriptor = temp.path("shop.network")
            #expect(try p2pdb(in: nil, "network", "create", "--name", "chaos", "--out", key, "--descriptor", descriptor).status == 0)
            for index in 0..<5 {
                let id = try p2pdb(in: nil, "init", "--data", temp.path("node-\(index)")).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                ids.append(id)
                let credential = temp.path("node-\(index).credential")
                let role = index == 0 ? "admin" : "writer"
                #expect(try p2pdb(in: nil, "network", "admit", "--key", key, "--node", id, "--role", role, "--out", credential).status == 0)
                membership[index] = ["--network", descriptor, "--credential", credential]
            }
        }
        var nodes: [ChaosNode] = []
        for index in 0..<5 {
            let group = index < 3 ? 0 : 1
            nodes.append(
                try ChaosNode(
                    directory: temp.path("node-\(index)"), network: network, group: group, index: index,
                    join: index == 0 ? [] : [nodes[0].peerAddress], extra: membership[index]))
        }
        defer { for node in nodes { node.stop(SIGKILL) } }
        let token = try nodes.map { try p2pdb(in: nil, "token", "--data", $0.directory).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let created = try await nodes[0].post(token[0], #"{"sql": "CREATE TABLE sales (id TEXT PRIMARY KEY, node INTEGER)"}"#)
        #expect(created.0 == 200, "\(created)")
        #expect(try await nodes[0].post(token[0], #"{"sql": "CREATE TABLE stock (sku TEXT PRIMARY KEY, units COUNTER INTEGER NOT NULL DEFAULT 0)"}"#).0 == 200)
        #expect(try await nodes[0].post(token[0], #"{"sql": "INSERT INTO stock VALUES ('apple', 0)"}"#).0 == 200)
        #expect(await chaosConverged(nodes, tokens: token, timeout: 60))

        let ledger = Ledger()
        let chaosNodes = nodes
        let revoked = ids.last ?? ""
        let deadline = Date().addingTimeInterval(seconds)
        let endpoints = nodes.map { ($0.httpURL, $0.index) }
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<3 {
                group.addTask {
                    var n = 0
                    while Date() < deadline {
                        n += 1
                        let (url, index) = endpoints[(client + n) % endpoints.count]
                        let id = "c\(client)-\(n)"
                        let body = #"{"statements": [{"sql": "INSERT INTO sales VALUES (?, ?)", "params": ["\#(id)", \#(index)]}, {"sql": "UPDATE stock SET units = units + 1 WHERE sku = 'apple'"}]}"#
                        let (status, _) = await chaosPost(url + "/v1/tx", token: token[index], body: body)
                        ledger.record(id: id, status: status)
                        if status == 200, n % 5 == 0 {
                            // Delete this client's row on the node that has
                            // just acknowledged it; a delete that found the
                            // row (changes 1) must hold everywhere.
                            let (result, reply) = await chaosPost(
                                url + "/v1/sql", token: token[index], body: #"{"sql": "DELETE FROM sales WHERE id = ?", "params": ["\#(id)"]}"#)
                            if result == 200, reply?["changes"] == .number("1") { ledger.deleted(id) }
                            // No answer: the delete may have committed.
                            if result == 0 { ledger.deleteInDoubt(id) }
                        }
                    }
                }
            }
            if privateNetwork {
                group.addTask {
                    try? await Task.sleep(for: .seconds(seconds / 2))
                    let revocation = #"{"revoke": {"node": "\#(revoked)"}}"#
                    await chaosAdminister(chaosNodes[0], token: token[0], revocation, until: deadline.addingTimeInterval(60))
                    ledger.revoked()
                }
            }
            group.addTask {
                var round = 0
                while Date() < deadline {
                    round += 1
                    try? await Task.sleep(for: .milliseconds(1500))
                    switch round % 3 {
                    case 0:
                        try? network.cut()
                        ledger.cut()
                    case 1:
                        // Every node in turn, the seed the others joined included.
                        let victim = chaosNodes[round % chaosNodes.count]
                        victim.stop(SIGKILL)
                        ledger.killed()
                        try? await Task.sleep(for: .milliseconds(700))
                        try? victim.start()
                    default: try? network.heal()
                    }
                }
            }
        }
        try network.heal()
        for node in nodes where !node.isRunning { try node.start() }
        if privateNetwork {
            #expect(ledger.snapshot().revocations == 1)
            // Admitted again, node 4 hands over what it wrote concurrently
            // with its revocation; what it was refused it never acknowledged.
            let grant = #"{"grant": {"node": "\#(ids[4])", "role": "writer"}}"#
            await chaosAdminister(nodes[0], token: token[0], grant, until: Date().addingTimeInterval(60))
        }
        #expect(await chaosConverged(nodes, tokens: token, timeout: 120))

        let expected = ledger.snapshot()
        #expect(expected.acknowledged.count > 0)
        for node in nodes {
            let (_, json) = try await node.post(token[node.index], #"{"sql": "SELECT id FROM sales"}"#)
            guard case .array(let rows)? = json?["rows"] else { Issue.record("no rows from node \(node.index)"); continue }
            let present = Set(rows.compactMap { row -> String? in
                if case .array(let cells) = row { return cells.first?.stringValue }
                return nil
            })
            let missing = expected.acknowledged.subtracting(expected.deleted).subtracting(expected.maybeDeleted).subtracting(present)
            #expect(missing.isEmpty, "node \(node.index) lacks acknowledged rows \(missing.sorted().prefix(5))")
            let revived = expected.deleted.intersection(present)
            #expect(revived.isEmpty, "node \(node.index) has deleted rows \(revived.sorted().prefix(5))")
            let (_, stock) = try await node.post(token[node.index], #"{"sql": "SELECT units FROM stock"}"#)
            guard case .array(let stockRows)? = stock?["rows"], case .array(let cells)? = stockRows.first,
                case .number(let text)? = cells.first, let units = Int(text)
            else { Issue.record("no stock on node \(node.index)"); continue }
            // Each write that was acknowledged added one; a write cut off by a
            // kill may or may not have committed.
            #expect(units >= expected.acknowledged.count && units <= expected.acknowledged.count + expected.inDoubt)
        }
        for node in nodes {
            node.stop(SIGTERM)
            let verify = try p2pdb(in: nil, "verify", "--data", node.directory)
            #expect(verify.status == 0, "node \(node.index): \(verify.stderr)")
        }
        print(
            "chaos\(privateNetwork ? " (private network, node 4 revoked halfway)" : ""): \(seconds) s, \(expected.kills) kill -9, "
                + "\(expected.cuts) cuts, \(expected.acknowledged.count) acknowledged writes, \(expected.refused) refused (403), "
                + "\(expected.deleted.count) deletes, \(expected.inDoubt) writes and \(expected.maybeDeleted.count) deletes in doubt")
    }
}

/// Posts a grant or revocation to an admin node until it is taken (the node
/// may be down or cut off for a while).
func chaosAdminister(_ node: ChaosNode, token: String, _ body: String, until deadline: Date) async {
    while Date() < deadline {
        let (status, _) = await chaosPost(node.httpURL + "/v1/network/changes", token: token, body: body)
        if status == 200 { return }
        try? await Task.sleep(for: .milliseconds(300))
    }
    Issue.record("node \(node.index) never took \(body)")
}

/// What clients saw: acknowledged inserts, acknowledged deletes, and
/// writes whose fate they could not know (the node died mid-request).
final class Ledger: Sendable {
    struct Snapshot {
        var acknowledged = Set<String>()
        var deleted = Set<String>()
        /// Rows whose delete got no answer.
        var maybeDeleted = Set<String>()
        var inDoubt = 0
        /// Writes refused with 403 (a revoked node).
        var refused = 0
        var kills = 0
        var cuts = 0
        var revocations = 0
    }

    private let state = Mutex(Snapshot())

    func record(id: String, status: Int) {
        state.withLock { state in
            if status == 200 {
                state.acknowledged.insert(id)
            } else if status == 0 {
                state.inDoubt += 1
            } else if status == 403 {
                state.refused += 1
            }
        }
    }

    func deleted(_ id: String) { _ = state.withLock { $0.deleted.insert(id) } }
    func deleteInDoubt(_ id: String) { _ = state.withLock { $0.maybeDeleted.insert(id) } }
    func killed() { state.withLock { $0.kills += 1 } }
    func cut() { state.withLock { $0.cuts += 1 } }
    func revoked() { state.withLock { $0.revocations += 1 } }
    func snapshot() -> Snapshot { state.withLock { $0 } }
}

/// One HTTP POST; status 0 when no answer came (connection refused or cut).
func chaosPost(_ url: String, token: String, body: String) async -> (Int, JSON?) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = "POST"
    request.timeoutInterval = 5
    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
    request.httpBody = Data(body.utf8)
    guard let (data, response) = try? await URLSession.shared.data(for: request) else { return (0, nil) }
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSON.parse(Array(data)))
}

func chaosConverged(_ nodes: [ChaosNode], tokens: [String], timeout: TimeInterval) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        var hashes = Set<String>()
        var sizes = Set<String>()
        for node in nodes {
            let status = try? await node.get(tokens[node.index], "/v1/status")
            hashes.insert(status?["state_hash"]?.stringValue ?? "?")
            sizes.insert(status?["entries"]?.text ?? "?")
        }
        if hashes.count == 1, sizes.count == 1, !hashes.contains("?") { return true }
        try? await Task.sleep(for: .milliseconds(250))
    }
    return false
}

/// A node of the chaos run: peers on the link between the namespaces, HTTP
/// on the namespace's link to the test.
final class ChaosNode: Sendable {
    let directory: String
    let index: Int
    let peerAddress: String
    let httpURL: String
    private let namespace: String
    private let arguments: [String]
    private let http: String
    private let process = Mutex<ServeProcess?>(nil)

    init(directory: String, network: ChaosNetwork, group: Int, index: Int, join: [String], extra: [String] = []) throws {
        self.directory = directory
        self.index = index
        namespace = group == 0 ? network.a : network.b
        peerAddress = "\(group == 0 ? network.peerA : network.peerB):\(7400 + index)"
        http = "\(group == 0 ? network.httpA : network.httpB):\(7500 + index)"
        httpURL = "http://\(http)"
        arguments = ["--listen", peerAddress, "--anti-entropy-interval", "300"] + join.flatMap { ["--join", $0] } + extra
        try start()
    }

    var isRunning: Bool { process.withLock { $0?.process.isRunning ?? false } }

    func start() throws {
        try process.withLock { $0 = try ServeProcess(data: directory, arguments: arguments, namespace: namespace, http: http) }
    }

    func stop(_ signal: Int32) {
        process.withLock { process in
            process?.stop(signal)
            process = nil
        }
    }

    func post(_ token: String, _ body: String) async throws -> (Int, JSON?) {
        try await httpRequest("POST", httpURL + "/v1/sql", token: token, body: body)
    }

    func get(_ token: String, _ path: String) async throws -> JSON? {
        try await httpRequest("GET", httpURL + path, token: token).1
    }
}

/// Two namespaces joined by a veth pair (the peer link, which the test cuts)
/// and each joined to the test by its own veth pair (the HTTP link). The
/// test's side does not forward between them, and nothing reaches the
/// machine's real network.
final class ChaosNetwork: Sendable {
    let a: String
    let b: String
    let peerA = "10.232.0.1"
    let peerB = "10.232.0.2"
    let httpA = "10.232.1.2"
    let httpB = "10.232.2.2"
    private let peerLinkA: String
    private let devices: [String]

    init() throws {
        NetworkNamespaces.removeStale()
        let tag = String(getpid() % 100_000)
        a = "p2pdb-ca-\(tag)"
        b = "p2pdb-cb-\(tag)"
        peerLinkA = "cpa\(tag)"
        let peerLinkB = "cpb\(tag)"
        let rootA = "cra\(tag)"
        let nsA = "cna\(tag)"
        let rootB = "crb\(tag)"
        let nsB = "cnb\(tag)"
        devices = [peerLinkA, rootA, rootB]
        try NetworkNamespaces.ip("netns", "add", a)
        try NetworkNamespaces.ip("netns", "add", b)
        try NetworkNamespaces.ip("link", "add", peerLinkA, "type", "veth", "peer", "name", peerLinkB)
        try NetworkNamespaces.ip("link", "set", peerLinkA, "netns", a)
        try NetworkNamespaces.ip("link", "set", peerLinkB, "netns", b)
        try NetworkNamespaces.ip("link", "add", rootA, "type", "veth", "peer", "name", nsA)
        try NetworkNamespaces.ip("link", "set", nsA, "netns", a)
        try NetworkNamespaces.ip("link", "add", rootB, "type", "veth", "peer", "name", nsB)
        try NetworkNamespaces.ip("link", "set", nsB, "netns", b)
        try NetworkNamespaces.ip("addr", "add", "10.232.1.1/24", "dev", rootA)
        try NetworkNamespaces.ip("addr", "add", "10.232.2.1/24", "dev", rootB)
        try NetworkNamespaces.ip("link", "set", rootA, "up")
        try NetworkNamespaces.ip("link", "set", rootB, "up")
        for (namespace, peerDevice, peerIP, httpDevice, httpIP) in [
            (a, peerLinkA, peerA, nsA, httpA), (b, peerLinkB, peerB, nsB, httpB),
        ] {
            try NetworkNamespaces.ip("netns", "exec", namespace, "ip", "addr", "add", "\(peerIP)/24", "dev", peerDevice)
            try NetworkNamespaces.ip("netns", "exec", namespace, "ip", "addr", "add", "\(httpIP)/24", "dev", httpDevice)
            for device in [peerDevice, httpDevice, "lo"] {
                try NetworkNamespaces.ip("netns", "exec", namespace, "ip", "link", "set", device, "up")
            }
        }
    }

    func cut() throws { try NetworkNamespaces.ip("netns", "exec", a, "ip", "link", "set", peerLinkA, "down") }
    func heal() throws { try NetworkNamespaces.ip("netns", "exec", a, "ip", "link", "set", peerLinkA, "up") }

    func remove() {
        _ = try? NetworkNamespaces.ip("netns", "del", a)
        _ = try? NetworkNamespaces.ip("netns", "del", b)
        for device in devices { _ = try? NetworkNamespaces.ip("link", "del", device) }
    }
}
