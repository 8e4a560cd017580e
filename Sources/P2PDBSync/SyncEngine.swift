import AsyncAlgorithms
import CoreMetrics
import Logging
import P2PDB

/// Replicates a node with its peers: sessions, push gossip, pull
/// anti-entropy, fetching missing parents, peer exchange and reconnection.
///
/// ```swift
/// let engine = SyncEngine(node: node, transport: transport, configuration: SyncConfiguration(seeds: ["10.0.0.2:7071"]))
/// try await engine.run()    // until cancelled
/// ```
///
/// - A new entry, local or received by push, goes to `fanout` random peers
///   at once; a peer passes on what it did not have. Entries the log holds
///   already are dropped before their signature is checked.
/// - Every `antiEntropyInterval` each peer gets a summary (version vector
///   and heads). The side that is behind pulls: the other streams every
///   entry the vector does not cover, in causal order, a page at a time. A
///   pull cut by a disconnect resumes from the new vector, not from zero.
/// - Entries with missing parents wait in the replica; the engine asks the
///   peer for the parents.
///
/// Time, randomness and the network are protocols (``SyncClock``,
/// ``RandomSource``, ``PeerTransport``), so tests and a simulator can run
/// many engines in one process.
public actor SyncEngine: PeerStatusProvider {
    public let node: Node
    private let store: ReplicaStore
    private let transport: any PeerTransport
    private let configuration: SyncConfiguration
    private let clock: any SyncClock
    private let random: any RandomSource
    private let logger: Logger
    private let metrics: SyncMetrics

    private var sessions: [ObjectIdentifier: Session] = [:]
    private var sessionCount = 0
    private var directory: PeerDirectory
    private var dialing = Set<String>()
    private var origins = EntryOrigins(capacity: 65_536)
    private var lastSummary: UInt64 = 0
    private var lastExchange: UInt64 = 0
    private var dialRequests: [(address: String, source: PeerStatus.Source)] = []
    private var progress: CatchUpProgress

    private var orderedSessions: [Session] { sessions.values.sorted { $0.sequence < $1.sequence } }
    private var listenAddress: String?

    /// Where a pull reply stands.
    private struct PullReply {
        var have: VersionVector
        var position: Int64
        var sent = 0
        var finished = false
    }

    /// One connected peer.
    private final class Session {
        let connection: any PeerConnection
        /// Order of arrival: sessions are visited in this order, so that a
        /// seeded run replays exactly (dictionary order would not).
        let sequence: Int
        let dialedAddress: String?
        let source: PeerStatus.Source
        var hello: Hello?
        /// The optional parts of the protocol both sides speak.
        var features: Set<String> = []
        var remoteVector = VersionVector()
        /// Whether `remoteVector` came from the peer, or is still the empty
        /// one a session starts with.
        var heardVector = false
        var remoteHeads: [EntryID] = []
        var lastHeard: UInt64
        /// When the session opened: a pong must answer a ping sent since.
        let opened: UInt64
        /// The nonce of the last pong taken, so that a repeated or
        /// reordered pong is not measured twice.
        var lastPong: UInt64?
        /// The last round trip measured by ping and pong, in ms.
        var roundTrip: UInt64?
        var pulling = false
        /// When the current pull last made progress: a pull whose reply
        /// stalls (lost, or a peer that never answers) is given up.
        var pullProgress: UInt64 = 0
        var refusedEntries = 0
        /// The pull this node is answering for the peer, if any.
        var serving: PullReply?
        var servingBusy = false
        /// Set once the log revokes the peer. It is sent the revocation (again
        /// at each anti-entropy round, as a message can be dropped) and
        /// nothing more; the session ends when the peer's summary shows it
        /// holds the revocation, so that it learns of it, or at `deadline`.
        var revocation: (admin: NodeID, entries: [Entry], deadline: UInt64)?

        init(connection: any PeerConnection, sequence: Int, dialedAddress: String?, source: PeerStatus.Source, now: UInt64) {
            self.connection = connection
            self.sequence = sequence
            self.dialedAddress = dialedAddress
            self.source = source
            self.lastHeard = now
            self.opened = now
        }

        var nodeID: NodeID { connection.remoteNodeID }
        var isEstablished: Bool { hello != nil }
        /// Whether this node still shares its log with the peer.
        var isShared: Bool { hello != nil && revocation == nil }
    }

    public init(
        node: Node, transport: any PeerTransport, configuration: SyncConfiguration = SyncConfiguration(),
        clock: any SyncClock = ContinuousSyncClock(), random: any RandomSource = SystemRandomSource(),
        metricsFactory: (any MetricsFactory)? = nil, logger: Logger = Logger(label: "p2pdb.sync")
    ) {
        self.node = node
        self.store = node.store
        self.transport = transport
        self.configuration = configuration
        self.clock = clock
        self.random = random
        self.logger = logger
        self.metrics = SyncMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        self.progress = CatchUpProgress(interval: configuration.progressInterval)
        var directory = PeerDirectory(selfID: node.nodeID)
        for seed in configuration.seeds { directory.add(seed, nodeID: nil, source: .seed) }
        self.directory = directory
    }

    // MARK: Running

    /// Listens, dials seeds, gossips and runs anti-entropy until cancelled.
    ///
    /// This is the runtime around ``handle(_:)``: it turns the network, the
    /// timer and the replica's change feed into events, and does what the
    /// engine asks (dial an address, read a new session). A simulator can
    /// skip it and feed events itself, in an order of its choosing.
    public func run() async throws {
        let (jobs, continuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        defer {
            continuation.finish()
            for session in sessions.values { session.connection.close() }
        }
        let transport = self.transport
        let clock = self.clock
        let interval = configuration.tickInterval
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await transport.run { connection in
                        if await self.handle(.connected(connection, dialedAddress: nil, source: .inbound)) {
                            continuation.yield { await self.read(connection) }
                        }
                    }
                } catch {
                    // The loop below waits for jobs: end it, or the error
                    // (a port that cannot be bound) would never surface.
                    continuation.finish()
                    throw error
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    for await batch in self.store.changeBatches() { await self.handle(.applied(batch)) }
                    // Dropped for falling behind, or the replica closed.
                    try? await clock.sleep(milliseconds: 10)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    await self.handle(.tick)
                    for dial in await self.takeDialRequests() {
                        continuation.yield { await self.dial(dial.address, source: dial.source) }
                    }
                    do {
                        try await clock.sleep(milliseconds: interval)
                    } catch {
                        return
                    }
                }
            }
            for await job in jobs { group.addTask { await job() } }
            group.cancelAll()
        }
    }

    /// Reads a session: entries are checked (dropped if held, signatures
    /// verified) one message ahead, while the engine applies the previous
    /// one, so that verification and writing use both cores.
    private func read(_ connection: any PeerConnection) async {
        let store = self.store
        let events = AsyncChannel<Event>()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in connection.inbound {
                        if case .entries(let bodies) = message, bodies.count <= SyncLimits.maximumEntriesPerMessage {
                            await events.send(.receivedEntries(await CheckedEntries.check(bodies, against: store), from: connection))
                        } else {
                            await events.send(.received(message, from: connection))
                        }
                    }
                    await events.send(.disconnected(connection, reason: "connection closed"))
                } catch {
                    await events.send(.disconnected(connection, reason: "\(error)"))
                }
                events.finish()
            }
            for await event in events {
                guard await handle(event) else {
                    await handle(.disconnected(connection, reason: "session ended"))
                    break
                }
            }
            group.cancelAll()
        }
    }

    private func dial(_ address: String, source: PeerStatus.Source) async {
        let connection: any PeerConnection
        do {
            connection = try await transport.connect(to: address)
        } catch {
            await handle(.dialFailed(address, reason: error))
            return
        }
        if await handle(.connected(connection, dialedAddress: address, source: source)) { await read(connection) }
    }

    /// Adds an address to dial, as `--join` does at start.
    public func join(_ address: String) {
        directory.add(address, nodeID: nil, source: .seed)
    }

    /// Adds an address found on the LAN (mDNS); dialed at the next tick if
    /// no session with that node exists.
    public func discovered(_ address: String, nodeID: NodeID) {
        guard nodeID != node.nodeID, directory.records.count < 1024 else { return }
        directory.add(address, nodeID: nodeID, source: .mdns)
    }

    // MARK: Events

    /// Everything that happens to the engine. The engine itself starts no
    /// task and reads no clock but its ``SyncClock``: given the same events
    /// in the same order, with the same clock and random source, it does
    /// the same thing.
    public enum Event: Sendable {
        /// A new authenticated connection; `dialedAddress` if we dialed it.
        case connected(any PeerConnection, dialedAddress: String?, source: PeerStatus.Source)
        case received(SyncMessage, from: any PeerConnection)
        /// An `entries` message whose entries the runtime already checked.
        case receivedEntries(CheckedEntries, from: any PeerConnection)
        case disconnected(any PeerConnection, reason: String)
        /// A dial requested by the engine failed, and why.
        case dialFailed(String, reason: DialFailure)
        /// Periodic work: summaries, peer exchange, dead peers, what to dial.
        case tick
        /// Entries the replica applied, local or remote, in log order.
        case applied([AppliedEntry])
    }

    /// Handles one event. For `.connected` and `.received`, false means the
    /// session is over and its connection should no longer be read.
    @discardableResult
    public func handle(_ event: Event) async -> Bool {
        switch event {
        case .connected(let connection, let dialedAddress, let source):
            if let dialedAddress { dialing.remove(dialedAddress) }
            return await attach(connection, dialedAddress: dialedAddress, source: source)
        case .received(let message, let connection):
            return await received(message, on: ObjectIdentifier(connection))
        case .receivedEntries(let checked, let connection):
            guard let session = sessions[ObjectIdentifier(connection)] else { return false }
            guard session.isEstablished else { return refuse(session, "sent entries before hello") }
            guard checked.received <= SyncLimits.maximumEntriesPerMessage else {
                return refuse(session, "sent \(checked.received) entries in one message")
            }
            session.lastHeard = clock.nowMilliseconds
            metrics.bytesReceived.increment(by: checked.bytes)
            return await ingest(checked, from: session)
        case .disconnected(let connection, let reason):
            detached(ObjectIdentifier(connection), reason: reason)
        case .dialFailed(let address, let reason):
            dialing.remove(address)
            directory.disconnected(address, now: clock.nowMilliseconds, configuration: configuration, random: random)
            // An operator who gave a wrong --join address hears of it at
            // once, and again now and then, not at every retry.
            let level = recordFailure(reason, at: address)
            let failures = directory.records[address]?.failures ?? 1
            logger.log(level: level, "cannot reach peer \(address) (attempt \(failures)): \(reason); retrying with backoff")
        case .tick:
            await tick()
        case .applied(let batch):
            let revocations = batch.map(\.entry).filter { $0.payload.membership.contains(where: \.isRevocation) }
            if !revocations.isEmpty { stopSharing(afterRevocations: revocations) }
            push(batch)
        }
        return true
    }

    /// Addresses the engine wants dialed, each to be answered with
    /// `.connected` or `.dialFailed`.
    public func takeDialRequests() -> [(address: String, source: PeerStatus.Source)] {
        defer { dialRequests = [] }
        return dialRequests
    }

    /// Periodic work: dead peers, summaries, peer exchange, dialing.
    private func tick() async {
        await learnListenAddress()
        let now = clock.nowMilliseconds
        for session in orderedSessions where now > session.lastHeard + configuration.deadPeerTimeout {
            logger.notice("peer \(session.nodeID.short) silent for \(now - session.lastHeard) ms; closing")
            session.connection.close()
        }
        if now >= lastSummary + configuration.antiEntropyInterval {
            lastSummary = now
            let summary = currentSummary()
            for session in orderedSessions where session.isShared { sendSummary(summary, to: session, now: now) }
            for session in orderedSessions { if let revocation = session.revocation { send(bodies: revocation.entries.map(\.bytes), to: session) } }
        }
        if now >= lastExchange + configuration.peerExchangeInterval {
            lastExchange = now
            let peers = SyncMessage.peers(Array(shareablePeers().prefix(SyncLimits.maximumPeersPerMessage)))
            for session in orderedSessions where session.isShared && session.features.contains(Hello.Feature.peerExchange) {
                send(peers, to: session)
            }
        }
        for session in orderedSessions {
            guard let revocation = session.revocation, now > revocation.deadline else { continue }
            _ = refuse(session, "was revoked by admin \(revocation.admin.short)")
            session.connection.close()
        }
        for session in orderedSessions where session.pulling && now > session.pullProgress + configuration.pullTimeout {
            logger.debug("pull from \(session.nodeID.short) stalled; asking again at the next summary")
            session.pulling = false
        }
        for session in orderedSessions where session.serving != nil { await continueServing(session) }
        requestDials(now: now)
        metrics.peers.record(sessions.values.filter(\.isEstablished).count)
        let mine = store.summary.versionVector
        let lag = sessions.values.map { $0.remoteVector.entriesAhead(of: mine) }.max() ?? 0
        metrics.lag.record(Double(lag))
        let shared = orderedSessions.filter(\.isShared)
        if let line = progress.line(
            now: now, behind: Self.entriesBehind(shared, mine: mine), pulling: shared.contains(where: \.pulling), peers: shared.count)
        {
            logger.info("\(line.message)", metadata: line.metadata)
        }
    }

    /// Entries that some of the sessions' peers hold and `mine` lacks, each
    /// counted once.
    private static func entriesBehind(_ sessions: [Session], mine: VersionVector) -> UInt64 {
        sessions.reduce(VersionVector()) { $0.merged(with: $1.remoteVector) }.entriesAhead(of: mine)
    }

    /// The address peers can dial us at, once the transport listens: sent
    /// in every hello so that peer exchange can pass it on.
    private func learnListenAddress() async {
        guard listenAddress == nil, let address = await transport.listenAddress else { return }
        listenAddress = address
        directory.markOwn(address)
    }

    private func requestDials(now: UInt64) {
        let connectedNodes = Set(sessions.values.map(\.nodeID))
        var room = configuration.maximumPeers - sessions.count - dialing.count
        for address in directory.due(now: now, connectedNodes: connectedNodes) where room > 0 && !dialing.contains(address) {
            room -= 1
            dialing.insert(address)
            dialRequests.append((address, directory.records[address]?.source ?? .seed))
        }
    }

    // MARK: Sessions

    /// Takes a new connection and says hello; false if it is refused.
    private func attach(_ connection: any PeerConnection, dialedAddress: String?, source: PeerStatus.Source) async -> Bool {
        guard sessions.count < configuration.maximumPeers else {
            logger.info("refusing \(connection.remoteAddress): already at the limit of \(configuration.maximumPeers) peers")
            // Told, so that the peer records why rather than a silent close.
            _ = connection.offer(.refusal("already at its limit of \(configuration.maximumPeers) peers"))
            connection.close()
            return false
        }
        await learnListenAddress()
        sessionCount += 1
        let session = Session(
            connection: connection, sequence: sessionCount, dialedAddress: dialedAddress, source: source, now: clock.nowMilliseconds)
        sessions[ObjectIdentifier(connection)] = session
        send(
            .hello(
                Hello(
                    nodeID: node.nodeID, listenAddress: listenAddress, network: configuration.network?.id,
                    credential: configuration.credential?.bytes)),
            to: session)
        return true
    }

    private func detached(_ id: ObjectIdentifier, reason: String) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        session.connection.close()
        let now = clock.nowMilliseconds
        for address in Set([session.dialedAddress, session.hello?.listenAddress].compactMap { $0 }) {
            directory.disconnected(address, now: now, configuration: configuration, random: random)
            if session.isEstablished { directory.heard(address, at: session.lastHeard, roundTrip: session.roundTrip) }
        }
        if session.isEstablished {
            logger.info("disconnected from peer \(session.nodeID.short) at \(session.connection.remoteAddress): \(reason)")
        }
    }

    /// Handles one message; false ends the session.
    private func received(_ message: SyncMessage, on id: ObjectIdentifier) async -> Bool {
        guard let session = sessions[id] else { return false }
        session.lastHeard = clock.nowMilliseconds
        metrics.bytesReceived.increment(by: message.approximateSize)
        guard session.isEstablished else {
            switch message {
            case .hello(let hello): return await greet(session, hello)
            case .refusal(let reason): return refused(session, reason)
            default: return refuse(session, "sent \(message.name) before hello")
            }
        }
        switch message {
        case .hello:
            return refuse(session, "sent a second hello")
        case .summary(let vector, let heads):
            guard vector.counts.count <= SyncLimits.maximumVectorSize, heads.count <= SyncLimits.maximumIDsPerMessage else {
                return refuse(session, "sent an oversized summary")
            }
            session.remoteVector = vector
            session.heardVector = true
            session.remoteHeads = heads
            if let revocation = session.revocation {
                guard revocation.entries.allSatisfy({ vector[$0.author] >= $0.seq }) else { return true }
                return refuse(session, "was revoked by admin \(revocation.admin.short)")
            }
            if store.summary.awaitingOwnHistory {
                // A replica made anew for this node's key learns here how
                // far its node had written before it writes again.
                try? await store.learnedOwnHistory(through: vector[node.nodeID])
            }
            await catchUp(with: session)
        case .pull(let have):
            guard have.counts.count <= SyncLimits.maximumVectorSize else { return refuse(session, "sent an oversized pull") }
            guard session.isShared else { return true }
            await answerPull(have, to: session)
        case .entries(let bodies):
            guard bodies.count <= SyncLimits.maximumEntriesPerMessage else {
                return refuse(session, "sent \(bodies.count) entries in one message")
            }
            return await ingest(await CheckedEntries.check(bodies, against: store), from: session)
        case .pullDone:
            session.pulling = false
            await catchUp(with: session)
        case .want(let ids):
            guard ids.count <= SyncLimits.maximumIDsPerMessage else { return refuse(session, "asked for \(ids.count) entries at once") }
            guard session.isShared else { return true }
            await answerWant(ids, to: session)
        case .peers(let peers):
            guard peers.count <= SyncLimits.maximumPeersPerMessage else { return refuse(session, "sent \(peers.count) addresses") }
            for peer in peers where directory.records.count < 1024 {
                directory.add(peer.address, nodeID: peer.nodeID, source: .exchange)
            }
        case .refusal(let reason):
            return refused(session, reason)
        case .ping(let nonce):
            send(.pong(nonce: nonce), to: session)
        case .pong(let nonce):
            timed(nonce, on: session)
        }
        return true
    }

    /// A summary, and a ping to time the round trip to a peer that answers
    /// pings. The nonce is the time the ping leaves.
    private func sendSummary(_ summary: SyncMessage, to session: Session, now: UInt64) {
        send(summary, to: session)
        if session.features.contains(Hello.Feature.ping) { send(.ping(nonce: now), to: session) }
    }

    /// Measures a round trip from a pong: only for a ping this session
    /// could have sent, and once per ping, whatever the peer repeats.
    private func timed(_ nonce: UInt64, on session: Session) {
        let now = clock.nowMilliseconds
        guard nonce >= session.opened, nonce <= now, session.lastPong.map({ nonce > $0 }) ?? true else { return }
        session.lastPong = nonce
        session.roundTrip = now - nonce
    }

    /// Asks for entries by ID, of a peer that takes such requests; the next
    /// pull brings the rest from one that does not.
    private func sendWant(_ ids: [EntryID], to session: Session) {
        guard session.features.contains(Hello.Feature.want) else { return }
        send(.want(ids), to: session)
    }

    private func refuse(_ session: Session, _ why: String) -> Bool {
        let level = session.dialedAddress.map { recordFailure(.refusedByThisNode("it \(why)"), at: $0) } ?? .warning
        logger.log(level: level, "refusing peer \(session.nodeID.short) at \(session.connection.remoteAddress): it \(why)")
        metrics.refusedPeers.increment()
        // Best effort: the connection closes right after.
        send(.refusal("it \(why)"), to: session)
        return false
    }

    /// The peer refused this node and closes the connection.
    private func refused(_ session: Session, _ reason: String) -> Bool {
        let reason = String(reason.prefix(SyncLimits.maximumRefusalCharacters))
        let level = session.dialedAddress.map { recordFailure(.refusedByPeer(reason), at: $0) } ?? .warning
        logger.log(level: level, "peer \(session.nodeID.short) at \(session.connection.remoteAddress) refused this node: \(reason)")
        return false
    }

    /// Records why an address failed; the level to log it at: a warning
    /// the first time, when the kind of failure changes and now and then,
    /// debug for the retries between.
    private func recordFailure(_ failure: DialFailure, at address: String) -> Logger.Level {
        let warn = directory.failed(address, failure, now: clock.nowMilliseconds, warningInterval: configuration.failureWarningInterval)
        return warn ? .warning : .debug
    }

    private func greet(_ session: Session, _ hello: Hello) async -> Bool {
        guard hello.protocolVersion >= Hello.minimumProtocolVersion else {
            return refuse(
                session,
                "speaks protocol version \(hello.protocolVersion) and this node speaks versions \(Hello.minimumProtocolVersion) to \(Hello.currentProtocolVersion); upgrade the older node")
        }
        guard hello.nodeID == session.nodeID else {
            return refuse(session, "claims node \(hello.nodeID.short) but authenticated as \(session.nodeID.short)")
        }
        if let refusal = admissionRefusal(hello) {
            await showRevocations(of: hello.nodeID, to: session)
            return refuse(session, refusal)
        }
        if hello.nodeID == node.nodeID {
            if let address = session.dialedAddress { directory.markOwn(address) }
            logger.debug("\(session.connection.remoteAddress) is this node itself; not dialing it again")
            return false
        }
        // Two nodes that dial each other at once keep the connection
        // opened by the smaller node ID; both sides pick the same one.
        if let address = session.dialedAddress { directory.proven(address, nodeID: hello.nodeID) }
        if let other = orderedSessions.first(where: { $0 !== session && $0.isEstablished && $0.nodeID == hello.nodeID }) {
            let opener = { (candidate: Session) in candidate.connection.isInbound ? candidate.nodeID : self.node.nodeID }
            let keepOther = opener(other) < opener(session) || (opener(other) == opener(session) && !other.connection.isInbound)
            if keepOther {
                logger.debug("already connected to \(hello.nodeID.short); closing the second connection")
                return false
            }
            other.connection.close()
        }
        session.hello = hello
        session.features = Set(hello.features).intersection(Hello.supportedFeatures)
        if let address = session.dialedAddress { directory.connected(address, nodeID: hello.nodeID) }
        // The address a peer says it listens on is its claim: dialed, and
        // so proven, later unless it is the address just dialed.
        if let address = hello.listenAddress, !address.isEmpty, address != session.dialedAddress {
            directory.add(address, nodeID: hello.nodeID, source: session.dialedAddress == nil ? .inbound : session.source)
        }
        logger.info(
            "connected to peer \(hello.nodeID.short) at \(session.connection.remoteAddress) (\(session.connection.isInbound ? "inbound" : session.source.rawValue))")
        sendSummary(currentSummary(), to: session, now: clock.nowMilliseconds)
        return true
    }

    /// After a revocation arrives, a revoked peer is sent the revocation and
    /// nothing more. Its session ends once it shows it holds the revocation,
    /// not at once: a message dropped from a full queue, or cut by closing
    /// the connection, would leave it writing without knowing why it is cut.
    private func stopSharing(afterRevocations revocations: [Entry]) {
        guard let membership = store.summary.membership else { return }
        for session in orderedSessions where session.isShared {
            guard case .revoked(let admin) = membership.standing(of: session.nodeID) else { continue }
            session.revocation = (admin, revocations, clock.nowMilliseconds + configuration.deadPeerTimeout)
            session.serving = nil
            session.pulling = false
            send(bodies: revocations.map(\.bytes), to: session)
        }
    }

    /// Entries' bodies in messages of at most a page each.
    private func send(bodies: [[UInt8]], to session: Session) {
        for page in Self.pages(bodies) { send(.entries(page), to: session) }
    }

    /// Sends a revoked node, before refusing it, the entries that revoke it
    /// (this node's Hello went first, so it takes them): it learns why it is
    /// refused and stops writing, even if it missed them while connected.
    private func showRevocations(of nodeID: NodeID, to session: Session) async {
        guard let facts = store.summary.membership?.revocations(of: nodeID), !facts.isEmpty else { return }
        var bodies: [[UInt8]] = []
        for fact in facts { bodies += (try? await store.bodies(authoredBy: fact.author, seq: fact.seq)) ?? [] }
        send(bodies: bodies, to: session)
    }

    /// Why a peer is not let in by this node's network, or nil. Both sides
    /// ask, so each logs why it refused the other.
    private func admissionRefusal(_ hello: Hello) -> String? {
        guard let network = configuration.network else {
            guard let theirs = hello.network else { return nil }
            return "keeps to private network \(theirs.short) and this node is in open mode"
        }
        guard let theirs = hello.network else { return "is in open mode, not in network \(network.label)" }
        guard theirs == network.id else { return "belongs to another network (\(theirs.short)), not \(network.label)" }
        // The log decides first: a revocation bars a valid credential, and
        // an admin's grant admits a node that has none.
        switch store.summary.membership?.standing(of: hello.nodeID) ?? .unnamed {
        case .revoked(let admin): return "was revoked from network \(network.label) by admin \(admin.short)"
        case .granted: return nil
        case .unnamed: break
        }
        guard let bytes = hello.credential else { return "has no credential for network \(network.label)" }
        let credential: Credential
        do {
            credential = try Credential(bytes: bytes)
        } catch {
            return "sent a malformed credential (\(error))"
        }
        if let problem = credential.problem(network: network.id, node: hello.nodeID, now: configuration.wallClock.now()) {
            return "is not admitted: \(problem)"
        }
        return nil
    }

    // MARK: Anti-entropy

    private func currentSummary() -> SyncMessage {
        let summary = store.summary
        return .summary(versionVector: summary.versionVector, heads: Array(summary.heads.prefix(SyncLimits.maximumIDsPerMessage)))
    }

    /// Pulls what the peer holds and this node lacks.
    private func catchUp(with session: Session) async {
        guard !session.pulling else { return }
        let mine = store.summary.versionVector
        if !mine.dominates(session.remoteVector) {
            session.pulling = true
            session.pullProgress = clock.nowMilliseconds
            send(.pull(have: mine), to: session)
            return
        }
        // Same vector, different heads: entries outside the vector, such as
        // the second branch of an equivocation.
        let unknown = session.remoteHeads.filter { !store.summary.heads.contains($0) }
        guard !unknown.isEmpty, let held = try? await store.held(unknown) else { return }
        let missing = unknown.filter { !held.contains($0) }
        if !missing.isEmpty { sendWant(missing, to: session) }
    }

    /// Streams every entry `have` does not cover, in log order, a page at a
    /// time; waits for the peer to read each page, so memory stays bounded.
    private func answerPull(_ have: VersionVector, to session: Session) async {
        do {
            session.serving = PullReply(have: have, position: try await store.startPosition(notCoveredBy: have))
        } catch {
            logger.debug("cannot answer the pull of \(session.nodeID.short): \(error)")
            return
        }
        await continueServing(session)
    }

    /// Sends pages of a pull reply while the peer's queue has room; the rest
    /// follows at later ticks. The session keeps reading meanwhile, and a
    /// slow peer holds at most a queue's worth of pages in memory.
    private func continueServing(_ session: Session) async {
        guard !session.servingBusy else { return }
        session.servingBusy = true
        defer { session.servingBusy = false }
        while let reply = session.serving {
            if reply.finished {
                guard session.connection.offer(.pullDone) else { return }
                if reply.sent > 0 { logger.debug("sent \(reply.sent) entries to \(session.nodeID.short) for its pull") }
                session.serving = nil
                return
            }
            let page: EntryPage
            do {
                page = try await store.entries(
                    notCoveredBy: reply.have, after: reply.position, limit: SyncLimits.pageEntries, maximumBytes: SyncLimits.pageBytes)
            } catch {
                logger.debug("pull reply to \(session.nodeID.short) ended: \(error)")
                session.serving = nil
                return
            }
            // A newer pull replaced this one while the page was read.
            guard let current = session.serving, current.have == reply.have, current.position == reply.position else { continue }
            if !page.bodies.isEmpty {
                let message = SyncMessage.entries(page.bodies)
                guard session.connection.offer(message) else { return }
                counted(message)
            }
            session.serving = PullReply(
                have: reply.have, position: page.lastPosition, sent: reply.sent + page.bodies.count, finished: page.isLast)
        }
    }

    private func answerWant(_ ids: [EntryID], to session: Session) async {
        guard let bodies = try? await store.bodies(of: ids), !bodies.isEmpty else { return }
        send(bodies: bodies, to: session)
    }

    /// Entries cut into messages of at most a page each, by count and size.
    static func pages(_ bodies: [[UInt8]]) -> [[[UInt8]]] {
        var pages: [[[UInt8]]] = []
        var current: [[UInt8]] = []
        var bytes = 0
        for body in bodies {
            if !current.isEmpty && (current.count >= SyncLimits.pageEntries || bytes + body.count > SyncLimits.pageBytes) {
                pages.append(current)
                current = []
                bytes = 0
            }
            current.append(body)
            bytes += body.count
        }
        if !current.isEmpty { pages.append(current) }
        return pages
    }

    // MARK: Receiving entries

    /// Verifies and applies entries from a peer. Entries the log holds are
    /// skipped before any signature check; forged or malformed ones are
    /// refused and logged, and a peer that keeps sending them is dropped.
    private func ingest(_ checked: CheckedEntries, from session: Session) async -> Bool {
        metrics.duplicatesReceived.increment(by: checked.duplicates)
        let (entries, failures) = (checked.entries, checked.failures)
        guard !entries.isEmpty || !failures.isEmpty else { return true }
        for failure in failures.prefix(3) {
            logger.warning("refused an entry from peer \(session.nodeID.short): \(failure)")
        }
        metrics.entriesRefused.increment(by: failures.count)
        session.refusedEntries += failures.count
        let viaPull = session.pulling
        if viaPull { session.pullProgress = clock.nowMilliseconds }
        for entry in entries { origins.record(entry.id, session: ObjectIdentifier(session.connection), viaPull: viaPull) }
        do {
            let report = try await store.apply(entries)
            metrics.entriesReceived.increment(by: report.applied)
            progress.applied(report.applied)
            for (id, reason) in report.rejected.prefix(3) {
                logger.warning("refused entry \(id.short) from peer \(session.nodeID.short): \(reason)")
            }
            metrics.entriesRefused.increment(by: report.rejected.count)
            session.refusedEntries += report.rejected.count
            if report.pending > 0, let missing = try? await store.missingParents(limit: SyncLimits.maximumIDsPerMessage), !missing.isEmpty {
                sendWant(missing, to: session)
            }
        } catch {
            logger.error("could not apply entries from peer \(session.nodeID.short): \(error)")
        }
        if session.refusedEntries > 1000 { return refuse(session, "sent more than 1000 invalid entries") }
        return true
    }

    // MARK: Gossip

    /// Pushes each entry the replica applies to `fanout` peers, except the
    /// one it came from. Entries that arrived as a pull reply are old news
    /// and are not pushed; anti-entropy covers any peer that lacks them.
    private func push(_ batch: [AppliedEntry]) {
        // Grouped by the session each entry came from, in log order.
        var groups: [(source: ObjectIdentifier?, bodies: [[UInt8]])] = []
        for applied in batch {
            let origin = origins.take(applied.entry.id)
            if origin?.viaPull == true { continue }
            if let last = groups.indices.last, groups[last].source == origin?.session {
                groups[last].bodies.append(applied.entry.bytes)
            } else {
                groups.append((origin?.session, [applied.entry.bytes]))
            }
        }
        for group in groups {
            let targets = orderedSessions.filter { ObjectIdentifier($0.connection) != group.source && $0.isShared }
            for target in choose(configuration.fanout, from: targets) {
                send(bodies: group.bodies, to: target)
            }
        }
    }

    private func choose(_ count: Int, from sessions: [Session]) -> [Session] {
        guard sessions.count > count else { return sessions }
        var pool = sessions.sorted { $0.nodeID < $1.nodeID }
        var chosen: [Session] = []
        while chosen.count < count {
            chosen.append(pool.remove(at: random.below(pool.count)))
        }
        return chosen
    }

    private func send(_ message: SyncMessage, to session: Session) {
        if session.connection.offer(message) {
            counted(message)
        } else {
            metrics.messagesDropped.increment()
        }
    }

    /// Counts a message that was handed to a connection.
    private func counted(_ message: SyncMessage) {
        metrics.bytesSent.increment(by: message.approximateSize)
        if case .entries(let bodies) = message { metrics.entriesSent.increment(by: bodies.count) }
    }

    // MARK: Status

    private func shareablePeers() -> [PeerAddress] {
        var result = Set(directory.shareable)
        for session in sessions.values {
            if let hello = session.hello, let address = hello.listenAddress, !address.isEmpty {
                result.insert(PeerAddress(nodeID: hello.nodeID, address: address))
            }
        }
        return result.sorted { $0.address < $1.address }
    }

    public func peers() async -> [PeerStatus] {
        let mine = store.summary.versionVector
        // Times are kept on the engine's clock and shown as wall times.
        let now = clock.nowMilliseconds
        let wallNow = configuration.wallClock.now()
        let wall = { (time: UInt64?) in time.map { wallNow - Int64(now - min($0, now)) } }
        var result: [PeerStatus] = []
        var listed = Set<String>()
        for session in sessions.values where session.isEstablished {
            let address = session.dialedAddress ?? session.hello?.listenAddress ?? session.connection.remoteAddress
            listed.insert(address)
            // When both sides dialed, the session kept may be the peer's;
            // how this node learned of the peer is still its own record's.
            let learned = directory.records.values.filter { $0.proven && $0.nodeID == session.nodeID }.min { $0.address < $1.address }
            let record = directory.records[address]
            result.append(
                PeerStatus(
                    nodeID: session.nodeID, address: address, connected: true,
                    source: session.connection.isInbound ? learned?.source ?? .inbound : session.source,
                    entriesBehind: session.remoteVector.entriesAhead(of: mine), entriesAhead: mine.entriesAhead(of: session.remoteVector),
                    lastError: record?.lastError?.description, lastErrorAt: wall(record?.lastErrorAt), lastContact: wall(session.lastHeard),
                    roundTripMilliseconds: session.roundTrip))
        }
        for record in directory.records.values where !listed.contains(record.address) && !record.connected {
            result.append(
                PeerStatus(
                    nodeID: record.nodeID, address: record.address, connected: false, source: record.source, entriesBehind: 0,
                    entriesAhead: 0, lastError: record.lastError?.description, lastErrorAt: wall(record.lastErrorAt),
                    lastContact: wall(record.lastContact), roundTripMilliseconds: record.roundTrip))
        }
        return result.sorted { ($0.connected ? 0 : 1, $0.address) < ($1.connected ? 0 : 1, $1.address) }
    }

    /// How far this node stands from the peers it shares its log with, by
    /// their last version vectors: what `/readyz` answers from.
    public func catchUpStatus() async -> CatchUpStatus {
        let shared = sessions.values.filter(\.isShared)
        return CatchUpStatus(
            entriesBehind: Self.entriesBehind(shared, mine: store.summary.versionVector), peers: shared.count,
            awaitingVector: shared.filter { !$0.heardVector }.count)
    }

    /// Node IDs of the peers with an established session.
    public var connectedPeers: Set<NodeID> {
        Set(sessions.values.filter(\.isEstablished).map(\.nodeID))
    }
}
