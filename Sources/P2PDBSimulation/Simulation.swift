import Foundation
import Logging
import P2PDB
import P2PDBPeerGRPC
import P2PDBSync

/// What a simulation run does: how many nodes, how much client work, how
/// hostile the network is. Every random choice comes from `seed`.
public struct SimulationConfiguration: Sendable {
    public var seed: UInt64
    public var nodes: Int
    /// Client transactions, spread over `duration`.
    public var transactions: Int
    /// Virtual milliseconds of client work and faults.
    public var duration: UInt64
    /// Partitions and crashes, spread over `duration`.
    public var faults: Int
    public var dropRate: Double
    public var duplicateRate: Double
    public var corruptRate: Double
    /// The chance that a client request is cut by a crash of its node,
    /// before or after the commit: the client never hears back.
    public var interruptRate: Double
    /// Messages are delayed by up to this, so they overtake each other.
    public var maximumDelay: UInt64
    /// Virtual milliseconds allowed to converge once the network heals.
    public var settleLimit: UInt64
    /// Grants and revocations, spread over `duration`. Above 0 the nodes
    /// form a private network: nodes 0 and 1 are admins, the others writers
    /// that the admins revoke, re-admit and make readers at random; at the
    /// end every node is granted writer again, so that all must converge.
    public var administrations: Int
    /// Made by ``quick(seed:)``: the base that ``command`` starts from.
    public private(set) var quick = false

    public init(
        seed: UInt64, nodes: Int = 5, transactions: Int = 120, duration: UInt64 = 20_000, faults: Int = 6,
        dropRate: Double = 0.03, duplicateRate: Double = 0.03, corruptRate: Double = 0.02, interruptRate: Double = 0.03,
        maximumDelay: UInt64 = 200, settleLimit: UInt64 = 120_000, administrations: Int = 0
    ) {
        self.seed = seed
        self.nodes = nodes
        self.transactions = transactions
        self.duration = duration
        self.faults = faults
        self.dropRate = dropRate
        self.duplicateRate = duplicateRate
        self.corruptRate = corruptRate
        self.interruptRate = interruptRate
        self.maximumDelay = maximumDelay
        self.settleLimit = settleLimit
        self.administrations = administrations
    }

    /// A smaller run, for the test suite's many seeds.
    public static func quick(seed: UInt64) -> SimulationConfiguration {
        var configuration = SimulationConfiguration(seed: seed, transactions: 50, duration: 8_000, faults: 4)
        configuration.quick = true
        return configuration
    }

    /// The `p2pdb simulate` command that runs exactly this configuration:
    /// the seed, and every setting that differs from its base.
    public var command: String {
        let base = quick ? Self.quick(seed: seed) : Self(seed: seed)
        var words = ["p2pdb", "simulate"] + (quick ? ["--quick"] : []) + ["--seed", "\(seed)"]
        func option<T: Equatable>(_ name: String, _ value: T, _ baseValue: T) {
            if value != baseValue { words += ["--\(name)", "\(value)"] }
        }
        option("nodes", nodes, base.nodes)
        option("transactions", transactions, base.transactions)
        option("duration", duration, base.duration)
        option("faults", faults, base.faults)
        option("drop-rate", dropRate, base.dropRate)
        option("duplicate-rate", duplicateRate, base.duplicateRate)
        option("corrupt-rate", corruptRate, base.corruptRate)
        option("interrupt-rate", interruptRate, base.interruptRate)
        option("maximum-delay", maximumDelay, base.maximumDelay)
        option("settle-limit", settleLimit, base.settleLimit)
        option("administrations", administrations, base.administrations)
        return words.joined(separator: " ")
    }
}

/// What a run did and what the checker found.
public struct SimulationReport: Sendable, CustomStringConvertible {
    public var seed: UInt64
    /// The command that reproduces the run.
    public var command: String
    public var transactions = 0
    public var acknowledged = 0
    /// Requests cut by a crash of their node: the client never heard back.
    public var unacknowledged = 0
    public var messagesSent = 0
    public var dropped = 0
    public var duplicated = 0
    public var corrupted = 0
    public var partitions = 0
    public var crashes = 0
    /// Grants and revocations signed by admins (private network runs).
    public var administrations = 0
    /// Virtual milliseconds from the end of faults to convergence.
    public var settleTime: UInt64 = 0
    public var checkedRows = 0
    /// Client writes the oracle found in the log and checked.
    public var checkedWrites = 0
    /// Cut requests that the log shows were committed.
    public var cutButWritten = 0
    /// Inserts that brought a deleted row back.
    public var reinserts = 0
    /// Writes that a concurrent delete beat.
    public var beatenByDeletes = 0
    /// Broken guarantees; empty when the run passed.
    public var violations: [String] = []

    public var passed: Bool { violations.isEmpty }

    public init(seed: UInt64, command: String = "") {
        self.seed = seed
        self.command = command
    }

    public var description: String {
        let outcome = passed ? "ok" : "FAILED: " + violations.joined(separator: "; ") + "; reproduce with: \(command)"
        return "seed \(seed): \(transactions) transactions (\(acknowledged) acknowledged, \(unacknowledged) cut by a crash), \(messagesSent) messages "
            + "(\(dropped) dropped, \(duplicated) duplicated, \(corrupted) corrupted), \(partitions) partitions, "
            + "\(crashes) crashes, \(administrations == 0 ? "" : "\(administrations) grants or revocations, ")converged \(settleTime) ms after healing; \(checkedWrites) writes checked (\(cutButWritten) cut but "
            + "committed, \(reinserts) re-inserts, \(beatenByDeletes) beaten by a concurrent delete); \(outcome)"
    }
}

/// A deterministic simulation of several nodes in one process.
///
/// One scheduler, in virtual time, decides everything: when each node's
/// timer fires, when clients write, when messages arrive (late, twice,
/// corrupted or never), when the network splits and heals, when nodes crash
/// and restart. The sync engines run unchanged, driven through
/// ``SyncEngine/handle(_:)``; the replicas are real SQLite files. At the end
/// the network heals and the checker verifies the guarantees.
///
/// ```swift
/// let report = try await Simulation.run(SimulationConfiguration(seed: 42))
/// print(report)          // the same seed gives the same run
/// ```
public final class Simulation {
    enum Event {
        case tick(Int)
        case client(Int)
        case dial(from: Int, to: Int)
        case deliver(link: Int, side: Int, message: SyncMessage)
        case disconnect(link: Int)
        case partition
        case heal
        case crash(Int)
        case restart(Int)
        case administer
    }

    struct SimulatedNode {
        let index: Int
        let address: String
        let key: NodeKey
        let directory: DataDirectory
        let random: SeededRandomSource
        var node: Node?
        var engine: SyncEngine?
        var lastPosition: Int64 = 0
    }

    struct Link {
        let nodes: (Int, Int)
        let connections: (SimulatedConnection, SimulatedConnection)
        var active = true

        func node(_ side: Int) -> Int { side == 0 ? nodes.0 : nodes.1 }
        func connection(_ side: Int) -> SimulatedConnection { side == 0 ? connections.0 : connections.1 }
    }

    let configuration: SimulationConfiguration
    let random: SeededRandomSource
    let clock = VirtualClock()
    let root: URL
    var queue = EventQueue<Event>()
    var nodes: [SimulatedNode] = []
    var links: [Link] = []
    var cuts = Set<[Int]>()
    /// The last delivery time scheduled on each (link, side).
    var lastDelivery: [[Int]: UInt64] = [:]
    var model = WorkloadModel()
    /// The entries that made the shared tables before the run.
    var setupEntries = Set<EntryID>()
    var report: SimulationReport
    var faultsOn = true
    let logger: Logger
    /// The private network, when ``SimulationConfiguration/administrations``
    /// is above 0: its descriptor and each node's credential.
    var network: NetworkDescriptor?
    var credentials: [Credential] = []

    static let tickInterval: UInt64 = 100

    init(_ configuration: SimulationConfiguration) throws {
        self.configuration = configuration
        random = SeededRandomSource(seed: configuration.seed)
        report = SimulationReport(seed: configuration.seed, command: configuration.command)
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        root = base.appendingPathComponent("p2pdb-sim-\(configuration.seed)-\(UUID().uuidString)")
        var logger = Logger(label: "p2pdb.simulation")
        logger.logLevel = ProcessInfo.processInfo.environment["P2PDB_SIM_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        self.logger = logger
    }

    /// Runs one seed and checks the guarantees.
    public static func run(_ configuration: SimulationConfiguration) async throws -> SimulationReport {
        let simulation = try Simulation(configuration)
        defer { try? FileManager.default.removeItem(at: simulation.root) }
        do {
            try await simulation.setUp()
            try await simulation.runEvents()
            try await simulation.check()
        } catch {
            simulation.report.violations.append("the run stopped: \(error)")
        }
        for node in simulation.nodes { try? await node.node?.close() }
        return simulation.report
    }

    // MARK: Set-up

    func setUp() async throws {
        for index in 0..<configuration.nodes {
            let seed = (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let directory = DataDirectory(path: root.appendingPathComponent("node-\(index)").path)
            let key = try NodeKey(seed: seed)
            try directory.initialize(key: key)
            nodes.append(
                SimulatedNode(
                    index: index, address: "node-\(index)", key: key, directory: directory,
                    random: SeededRandomSource(seed: random.next())))
        }
        if configuration.administrations > 0 {
            let networkKey = try NodeKey(seed: (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            network = NetworkDescriptor(id: NetworkID(key: networkKey), name: "simulation")
            credentials = nodes.map { node in
                Credential.issue(by: networkKey, for: node.key.nodeID, role: node.index < 2 ? .admin : .writer, issuedAt: 0, expiresAt: nil)
            }
            for _ in 0..<configuration.administrations { queue.schedule(.administer, at: random.next() % configuration.duration) }
        }
        for index in nodes.indices { try start(index) }
        // The shared tables exist everywhere before the run: node 0 makes
        // them and the others take its entries.
        let first = try node(0)
        try await first.execute(WorkloadModel.schema)
        let entries = try await first.store.entries(after: 0, limit: .max).map(\.entry)
        setupEntries = Set(entries.map(\.id))
        for index in nodes.indices.dropFirst() { _ = try await self.node(index).store.apply(entries) }
        for index in nodes.indices { nodes[index].lastPosition = try self.node(index).store.summary.lastPosition }

        for index in nodes.indices { queue.schedule(.tick(index), at: random.next() % Self.tickInterval) }
        for _ in 0..<configuration.transactions {
            queue.schedule(.client(Int(random.next() % UInt64(nodes.count))), at: random.next() % configuration.duration)
        }
        for _ in 0..<configuration.faults {
            let at = random.next() % configuration.duration
            if random.next() % 2 == 0 {
                queue.schedule(.partition, at: at)
            } else {
                queue.schedule(.crash(Int(random.next() % UInt64(nodes.count))), at: at)
            }
        }
    }

    func start(_ index: Int) throws {
        var options = StoreOptions(durability: .off, clock: clock)
        options.network = network?.id
        options.credential = credentials.isEmpty ? nil : credentials[index]
        let node = try Node.open(nodes[index].directory, options: options)
        let seeds = nodes.filter { $0.index != index }.map(\.address)
        let configuration = SyncConfiguration(
            seeds: seeds, fanout: 2, maximumPeers: nodes.count + 2, antiEntropyInterval: 500, peerExchangeInterval: 2_000,
            deadPeerTimeout: 4_000, pullTimeout: 2_000, minimumBackoff: 100, maximumBackoff: 2_000, tickInterval: Self.tickInterval,
            network: network, credential: options.credential, wallClock: clock)
        var logger = self.logger
        logger[metadataKey: "node"] = "\(index)"
        nodes[index].node = node
        nodes[index].engine = SyncEngine(
            node: node, transport: SimulatedTransport(address: nodes[index].address), configuration: configuration, clock: clock,
            random: nodes[index].random, logger: logger)
        nodes[index].lastPosition = node.store.summary.lastPosition
    }

    private func node(_ index: Int) throws -> Node {
        guard let node = nodes[index].node else { throw P2PDBError(.unavailable, "node \(index) is down") }
        return node
    }

    // MARK: Running

    func runEvents() async throws {
        var healedAt: UInt64?
        while let (time, event) = queue.pop() {
            clock.set(time)
            if healedAt == nil && time >= configuration.duration {
                healedAt = time
                endFaults()
            }
            try await handle(event)
            if let healedAt, case .tick(0) = event, try await converged() {
                report.settleTime = time - healedAt
                return
            }
            if let healedAt, time > healedAt + configuration.settleLimit {
                var states: [String] = []
                for node in nodes {
                    guard let replica = node.node else {
                        states.append("node \(node.index) down")
                        continue
                    }
                    let summary = replica.store.summary
                    let pending = try await replica.store.pendingCount()
                    states.append(
                        "node \(node.index): \(summary.entryCount) entries, \(pending) pending, \(summary.heads.count) heads, state \(summary.stateHash.hex.prefix(8)), peers \(await node.engine?.connectedPeers.count ?? 0)")
                }
                report.violations.append("no convergence within \(configuration.settleLimit) ms of healing (\(states.joined(separator: "; ")))")
                return
            }
        }
    }

    /// The network heals, crashed nodes come back, messages stop failing,
    /// and every revoked node is admitted again.
    private func endFaults() {
        faultsOn = false
        if network != nil { queue.schedule(.administer, at: clock.nowMilliseconds + 1) }
        cuts = []
        for index in nodes.indices where nodes[index].node == nil { queue.schedule(.restart(index), at: clock.nowMilliseconds + 1) }
    }

    private func handle(_ event: Event) async throws {
        switch event {
        case .tick(let index):
            queue.schedule(.tick(index), at: clock.nowMilliseconds + Self.tickInterval)
            guard let engine = nodes[index].engine else { return }
            await engine.handle(.tick)
            for dial in await engine.takeDialRequests() {
                guard let target = nodes.firstIndex(where: { $0.address == dial.address }) else {
                    // An address a corrupted message made up: nobody is there.
                    await engine.handle(.dialFailed(dial.address, reason: .unreachable("no such host")))
                    continue
                }
                queue.schedule(.dial(from: index, to: target), at: clock.nowMilliseconds + 1 + random.next() % 20)
            }
            try await flush(index)
        case .client(let index):
            guard let node = nodes[index].node else { return }
            report.transactions += 1
            let interruption: WorkloadModel.Interruption? =
                faultsOn && chance(configuration.interruptRate) ? (random.next() % 2 == 0 ? .beforeCommit : .afterCommit) : nil
            let outcome = try await model.transact(on: node, index: index, random: random, interruption: interruption)
            if outcome.acknowledged { report.acknowledged += 1 }
            if outcome.interrupted {
                // Down before it could answer, or push what it committed.
                report.unacknowledged += 1
                try await crash(index)
            } else {
                try await flush(index)
            }
        case .dial(let from, let to):
            try await dial(from, to)
        case .deliver(let link, let side, let message):
            guard links[link].active, let engine = nodes[links[link].node(side)].engine else { return }
            let connection = links[link].connection(side)
            if !(await engine.handle(.received(message, from: connection))) { connection.close() }
            try await flush(links[link].node(side))
        case .disconnect(let link):
            try await disconnect(link)
        case .partition:
            guard faultsOn else { return }
            report.partitions += 1
            let group = Set(nodes.indices.filter { _ in random.next() % 2 == 0 })
            guard !group.isEmpty, group.count < nodes.count else { return }
            for a in group { for b in nodes.indices where !group.contains(b) { cuts.insert([min(a, b), max(a, b)]) } }
            for link in links.indices where links[link].active && isCut(links[link].nodes.0, links[link].nodes.1) {
                try await disconnect(link)
            }
            queue.schedule(.heal, at: clock.nowMilliseconds + 1_000 + random.next() % 4_000)
        case .heal:
            cuts = []
        case .crash(let index):
            try await crash(index)
        case .restart(let index):
            guard nodes[index].node == nil else { return }
            try start(index)
        case .administer:
            try await administer()
        }
    }

    /// An admin revokes a writer, re-admits it, or makes it a reader; after
    /// the faults, admin 0 makes every other node a writer again.
    private func administer() async throws {
        let admin = faultsOn ? Int(random.next() % 2) : 0
        guard nodes.count > 2 else { return }
        guard let node = nodes[admin].node else {
            // Down: after the faults it restarts, and looks then.
            if !faultsOn { queue.schedule(.administer, at: clock.nowMilliseconds + 1_000) }
            return
        }
        let changes: [MembershipChange]
        if faultsOn {
            let target = nodes[2 + Int(random.next() % UInt64(nodes.count - 2))].key.nodeID
            changes = [[.revoke(node: target), .grant(node: target, role: .writer), .grant(node: target, role: .reader)][Int(random.next() % 3)]]
        } else {
            // A revocation by admin 1 that admin 0 has not seen yet would beat
            // a concurrent grant: until the run converges, admin 0 looks
            // again every 3 s and grants whoever its log does not show a
            // writer, so that its last grant follows every revocation.
            queue.schedule(.administer, at: clock.nowMilliseconds + 3_000)
            let pending = nodes.dropFirst(2).filter { node.store.summary.membership?.role(of: $0.key.nodeID) != .writer }
            guard !pending.isEmpty else { return }
            changes = pending.map { .grant(node: $0.key.nodeID, role: .writer) }
        }
        _ = try await node.store.administer(changes)
        report.administrations += 1
        try await flush(admin)
    }

    private func crash(_ index: Int) async throws {
        guard faultsOn, nodes[index].node != nil else { return }
        report.crashes += 1
        for link in links.indices where links[link].active && (links[link].nodes.0 == index || links[link].nodes.1 == index) {
            try await disconnect(link)
        }
        // Everything in memory is lost: sessions, queues, messages in
        // flight. The replica file keeps what was committed.
        try await nodes[index].node?.close()
        nodes[index].node = nil
        nodes[index].engine = nil
        queue.schedule(.restart(index), at: clock.nowMilliseconds + 500 + random.next() % 3_000)
    }

    private func isCut(_ a: Int, _ b: Int) -> Bool { cuts.contains([min(a, b), max(a, b)]) }

    private func dial(_ from: Int, _ to: Int) async throws {
        guard let dialer = nodes[from].engine else { return }
        // As on a real network: a partition drops packets, a node that is
        // down leaves its port closed.
        guard let acceptor = nodes[to].engine, !isCut(from, to) else {
            let failure: DialFailure = isCut(from, to) ? .timedOut("the link is cut") : .connectionRefused
            await dialer.handle(.dialFailed(nodes[to].address, reason: failure))
            return try await flush(from)
        }
        let id = links.count
        let outbound = SimulatedConnection(
            remoteNodeID: nodes[to].key.nodeID, remoteAddress: nodes[to].address, isInbound: false, link: id, side: 0)
        let inbound = SimulatedConnection(
            remoteNodeID: nodes[from].key.nodeID, remoteAddress: nodes[from].address, isInbound: true, link: id, side: 1)
        links.append(Link(nodes: (from, to), connections: (outbound, inbound)))
        let accepted = await acceptor.handle(.connected(inbound, dialedAddress: nil, source: .inbound))
        let dialed = await dialer.handle(.connected(outbound, dialedAddress: nodes[to].address, source: .seed))
        if !accepted || !dialed {
            inbound.close()
            outbound.close()
        }
        try await flush(from)
        try await flush(to)
    }

    private func disconnect(_ link: Int) async throws {
        guard links[link].active else { return }
        links[link].active = false
        for side in 0...1 {
            let connection = links[link].connection(side)
            connection.close()
            _ = connection.drain()
            guard let engine = nodes[links[link].node(side)].engine else { continue }
            await engine.handle(.disconnected(connection, reason: "link down"))
        }
    }

    /// After a node acted: tells its engine what the replica applied, sends
    /// what it queued (through the faulty network), and notices links it
    /// closed.
    private func flush(_ index: Int) async throws {
        guard let node = nodes[index].node, let engine = nodes[index].engine else { return }
        let applied = try await node.store.entries(after: nodes[index].lastPosition, limit: .max)
        if let last = applied.last {
            nodes[index].lastPosition = last.position
            await engine.handle(.applied(applied))
        }
        for link in links.indices where links[link].active {
            for side in 0...1 where links[link].node(side) == index {
                let connection = links[link].connection(side)
                for message in connection.drain() { transmit(message, link: link, to: 1 - side) }
                if connection.isClosed { queue.schedule(.disconnect(link: link), at: clock.nowMilliseconds + 1) }
            }
        }
    }

    /// Sends a message across a link. A session is a stream (TCP under
    /// the real transport): its messages keep their order, each delayed at
    /// random, so sessions overtake one another. Within a session the
    /// network loses, repeats and corrupts messages while faults are on.
    private func transmit(_ message: SyncMessage, link: Int, to side: Int) {
        report.messagesSent += 1
        let deliverAt = { (extra: UInt64) -> UInt64 in
            let time = max(self.clock.nowMilliseconds + 1 + self.random.next() % self.configuration.maximumDelay + extra, (self.lastDelivery[[link, side]] ?? 0) + 1)
            self.lastDelivery[[link, side]] = time
            return time
        }
        guard faultsOn else {
            queue.schedule(.deliver(link: link, side: side, message: message), at: deliverAt(0))
            return
        }
        if chance(configuration.dropRate) {
            report.dropped += 1
            return
        }
        var message = message
        if chance(configuration.corruptRate) {
            report.corrupted += 1
            guard let corrupted = corrupt(message) else {
                // The receiving transport cannot decode the frame: it ends
                // the session, after what came before it.
                queue.schedule(.disconnect(link: link), at: deliverAt(0))
                return
            }
            message = corrupted
        }
        queue.schedule(.deliver(link: link, side: side, message: message), at: deliverAt(0))
        if chance(configuration.duplicateRate) {
            report.duplicated += 1
            queue.schedule(.deliver(link: link, side: side, message: message), at: deliverAt(0))
        }
    }

    /// Flips one to three bytes of the message's frame, as the peer
    /// transport encodes it: nil when the frame no longer decodes.
    private func corrupt(_ message: SyncMessage) -> SyncMessage? {
        guard var bytes = try? FrameCoding.encode(message), !bytes.isEmpty else { return nil }
        for _ in 0...(random.next() % 3) {
            bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(1 + random.next() % 255)
        }
        return try? FrameCoding.decode(bytes)
    }

    private func chance(_ probability: Double) -> Bool {
        Double(random.next() % 1_000_000) < probability * 1_000_000
    }

    // MARK: Checking

    private func converged() async throws -> Bool {
        guard nodes.allSatisfy({ $0.node != nil }) else { return false }
        let summaries = try nodes.map { try node($0.index).store.summary }
        // The same state and count can hide different entries (two equal
        // counter deltas, one on each side): the heads must match too.
        guard Set(summaries.map(\.stateHash)).count == 1, Set(summaries.map(\.entryCount)).count == 1,
            Set(summaries.map(\.heads)).count == 1
        else { return false }
        for index in nodes.indices where try await node(index).store.pendingCount() > 0 { return false }
        return true
    }

    /// The guarantees, on every node: every acknowledged entry held; the
    /// tables, columns and indexes that ``Oracle`` derives from what the
    /// clients did and the shape of the log, independently of the merge
    /// code; the replica consistent with its own log (`verify`). One state
    /// and one log everywhere was checked on converging.
    func check() async throws {
        guard report.violations.isEmpty else { return }
        let oracle = Oracle(writes: model.writes, authors: nodes.map(\.key.nodeID), setup: setupEntries)
        let acknowledged = model.acknowledgedEntries
        for index in nodes.indices {
            let node = try node(index)
            let held = try await node.store.held(acknowledged)
            if held.count != acknowledged.count {
                report.violations.append("node \(index) lacks \(acknowledged.count - held.count) acknowledged entries")
            }
            let findings = try await oracle.check(node, index: index)
            report.violations += findings.violations
            if index == 0 {
                // The logs are equal by now, so any node's figures do.
                report.checkedWrites = findings.writes
                report.cutButWritten = findings.unacknowledged
                report.reinserts = findings.reinserts
                report.beatenByDeletes = findings.beatenByDeletes
            }
            let verification = try await node.store.verify()
            if !verification.isValid { report.violations.append("node \(index) fails verify: \(verification.problems[0])") }
            report.checkedRows += verification.rowsChecked
        }
    }
}
