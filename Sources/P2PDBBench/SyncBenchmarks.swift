import Foundation
import Logging
import P2PDB
import P2PDBPeerGRPC
import P2PDBSync
import Synchronization

/// Replication benchmarks: nodes in this process, each with the real gRPC
/// transport and mutual TLS on loopback.
public struct SyncBenchmarks: Sendable {
    public var scale: Double
    public var durability: Durability

    public init(scale: Double = 1, durability: Durability = .full) {
        self.scale = scale
        self.durability = durability
    }

    private func count(_ base: Int) -> Int { max(1, Int(Double(base) * scale)) }

    public var all: [(name: String, run: @Sendable () async throws -> BenchmarkResult)] {
        [("propagation", propagation), ("catch-up", catchUp)]
    }

    /// A node with a gRPC peer endpoint on a free loopback port.
    struct Peer {
        let node: Node
        let engine: SyncEngine
        let address: String
        let task: Task<Void, any Error>

        static func start(_ scratch: Scratch, _ name: String, join: [String], durability: Durability) async throws -> Peer {
            let directory = DataDirectory(path: scratch.path(name))
            let node = try Node.open(directory, createIfNeeded: true, options: StoreOptions(durability: durability))
            var logger = Logger(label: name)
            logger.logLevel = .error
            let transport = try GRPCPeerTransport(key: try directory.loadKey(), listen: ("127.0.0.1", 0), logger: logger)
            let engine = SyncEngine(
                node: node, transport: transport, configuration: SyncConfiguration(seeds: join, antiEntropyInterval: 1000),
                logger: logger)
            let task = Task { try await engine.run() }
            var address: String?
            while address == nil {
                address = await transport.listenAddress
                if address == nil { try await Task.sleep(for: .milliseconds(5)) }
            }
            return Peer(node: node, engine: engine, address: address ?? "", task: task)
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
            try? await node.close()
        }
    }

    /// Time from a write's acknowledgement at one node to its visibility on
    /// all ten, for writes at random nodes.
    public func propagation() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let nodeCount = 10
        var peers: [Peer] = [try await Peer.start(scratch, "node-0", join: [], durability: durability)]
        for index in 1..<nodeCount {
            peers.append(try await Peer.start(scratch, "node-\(index)", join: [peers[0].address], durability: durability))
        }
        try await peers[0].node.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, register INTEGER, qty INTEGER)")
        let started = peers
        try await waitUntil { await started.asyncAll { $0.node.store.summary.entryCount == 1 } }
        // Let peer exchange build the mesh before measuring.
        try await Task.sleep(for: .seconds(6))

        let seen = Arrivals()
        var watchers: [Task<Void, Never>] = []
        for peer in peers {
            let changes = peer.node.store.changes(bufferSize: 1 << 16)
            watchers.append(
                Task {
                    for await applied in changes {
                        let now = ContinuousClock.now
                        seen.state.withLock { seen in
                            let previous = seen[applied.entry.id] ?? (0, now)
                            seen[applied.entry.id] = (previous.count + 1, now)
                        }
                    }
                })
        }
        let writes = count(200)
        var acknowledged: [(EntryID, ContinuousClock.Instant)] = []
        var generator = SystemRandomNumberGenerator()
        for write in 0..<writes {
            let peer = peers[Int.random(in: 0..<nodeCount, using: &generator)]
            let result = try await peer.node.execute("INSERT INTO sales VALUES (?, ?, 1)", [.integer(Int64(write)), .integer(0)])
            if let entry = result.entry { acknowledged.append((entry, ContinuousClock.now)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let written = acknowledged
        try await waitUntil(timeout: .seconds(60)) {
            seen.state.withLock { seen in written.allSatisfy { (seen[$0.0]?.count ?? 0) >= nodeCount } }
        }
        let latencies = seen.state.withLock { seen in
            acknowledged.compactMap { id, at in seen[id].map { milliseconds($0.last - at) } }
        }.sorted()
        for watcher in watchers { watcher.cancel() }
        for peer in peers { await peer.stop() }
        let p50 = percentile(latencies, 0.50)
        let p99 = percentile(latencies, 0.99)
        return BenchmarkResult(
            name: "propagation to all 10 nodes (p99; p50 \(String(format: "%.1f", p50)) ms)", unit: "ms", p2pdb: p99, sqlite: nil,
            target: "p99 < 500 ms",
            note: "\(writes) single-row writes at random nodes of 10 on loopback (gRPC, mutual TLS), 20 ms apart; "
                + "p50 \(String(format: "%.1f", p50)) ms, p99 \(String(format: "%.1f", p99)) ms, max \(String(format: "%.1f", latencies.last ?? 0)) ms")
    }

    /// A new node catches up with one that holds single-row entries, every
    /// signature checked; also the bytes that crossed loopback per row.
    public func catchUp() async throws -> BenchmarkResult {
        let scratch = try Scratch()
        let entries = count(100_000)
        let source = try await Peer.start(scratch, "source", join: [], durability: durability)
        try await source.node.execute(benchmarkSchema)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<32 {
                group.addTask {
                    for index in stride(from: writer, to: entries, by: 32) {
                        try await source.node.execute(insertSQL, insertArguments(index))
                    }
                }
            }
            try await group.waitForAll()
        }
        let target = source.node.store.summary.stateHash
        let rowBytes = (0..<100).map { insertArguments($0) }.reduce(0) { total, row in
            total + row.reduce(0) { $0 + Self.size($1) }
        } / 100
        let loopbackBefore = Self.loopbackBytes()
        var follower: Peer?
        let elapsed = try await seconds {
            let joined = try await Peer.start(scratch, "follower", join: [source.address], durability: durability)
            follower = joined
            try await waitUntil(timeout: .seconds(600)) { joined.node.store.summary.stateHash == target }
        }
        let loopbackAfter = Self.loopbackBytes()
        await follower?.stop()
        await source.stop()
        let wireBytesPerRow = loopbackBefore.flatMap { before in loopbackAfter.map { Double($0 - before) / Double(entries) } }
        let wire = wireBytesPerRow.map { String(format: "%.0f bytes on loopback per row (both directions, TLS included) for %d bytes of values", $0, rowBytes) }
            ?? "loopback byte counters unavailable"
        return BenchmarkResult(
            name: "catch-up of a new node", unit: "entries/s", p2pdb: Double(entries + 1) / elapsed, sqlite: nil,
            target: ">= 10,000 entries/s",
            note: "\(entries) single-row entries pulled over gRPC with mutual TLS, every signature verified; \(wire)")
    }

    private static func size(_ value: P2PDB.Value) -> Int {
        switch value {
        case .null: return 0
        case .integer: return 8
        case .real: return 8
        case .text(let text): return text.utf8.count
        case .blob(let bytes): return bytes.count
        }
    }

    /// Bytes received on the loopback interface since boot (Linux).
    static func loopbackBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix("lo:") {
            let fields = line.split(separator: ":")[1].split(separator: " ")
            return fields.first.flatMap { Int($0) }
        }
        return nil
    }
}

/// When each entry arrived at how many nodes, the last arrival kept.
final class Arrivals: Sendable {
    let state = Mutex<[EntryID: (count: Int, last: ContinuousClock.Instant)]>([:])
}

func waitUntil(timeout: Duration = .seconds(60), _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw P2PDBError(.unavailable, "the benchmark timed out") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
}

extension Sequence where Element: Sendable {
    func asyncAll(_ predicate: (Element) async -> Bool) async -> Bool {
        for element in self where !(await predicate(element)) { return false }
        return true
    }
}
