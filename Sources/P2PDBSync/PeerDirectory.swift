import P2PDB

/// The addresses a node knows, how it learned them, and when to dial each
/// again. Pure state: the engine asks it what to dial and tells it what
/// happened.
///
/// The node ID of an address is only a claim (peer exchange, mDNS, a
/// peer's Hello) until this node dials the address and TLS proves who
/// answers. A claim never overrides a proof, never stops a dial, and is not
/// passed on: a hostile peer cannot hide honest nodes by tagging their
/// addresses with its own ID.
struct PeerDirectory {
    struct Record {
        var address: String
        var nodeID: NodeID?
        /// Whether `nodeID` was proven by dialing this address.
        var proven = false
        var source: PeerStatus.Source
        var connected = false
        var failures = 0
        var nextAttempt: UInt64 = 0
        /// Why the last attempt to open a session here failed, and when
        /// (the engine's clock); kept after a later success, with its time.
        var lastError: DialFailure?
        var lastErrorAt: UInt64?
        /// When the peer here was last heard from (the engine's clock).
        var lastContact: UInt64?
        /// The last round trip measured with the peer here, in ms.
        var roundTrip: UInt64?
        /// The kind of failure last logged as a warning, and when: repeats
        /// of it go to the debug level for a while.
        var warnedKind: String?
        var warnedAt: UInt64 = 0
    }

    private(set) var records: [String: Record] = [:]
    /// Addresses that turned out to be this node itself.
    private var ownAddresses = Set<String>()
    let selfID: NodeID

    init(selfID: NodeID) { self.selfID = selfID }

    /// Learns an address; a seed stays a seed whoever mentions it later.
    mutating func add(_ address: String, nodeID: NodeID?, source: PeerStatus.Source) {
        guard !ownAddresses.contains(address), nodeID != selfID else { return }
        if var record = records[address] {
            if let nodeID, !record.proven { record.nodeID = nodeID }
            records[address] = record
        } else {
            records[address] = Record(address: address, nodeID: nodeID, source: source)
        }
    }

    mutating func markOwn(_ address: String) {
        ownAddresses.insert(address)
        records[address] = nil
    }

    /// Addresses due for a dial: not connected, not proven to lead to a node
    /// already connected under another address, and past their backoff.
    func due(now: UInt64, connectedNodes: Set<NodeID>) -> [String] {
        records.values
            .filter { !$0.connected && $0.nextAttempt <= now && !($0.proven && $0.nodeID.map(connectedNodes.contains) ?? false) }
            .map(\.address)
            .sorted()
    }

    /// A dial of `address` reached `nodeID`, as TLS proved.
    mutating func proven(_ address: String, nodeID: NodeID) {
        guard var record = records[address] else { return }
        record.nodeID = nodeID
        record.proven = true
        records[address] = record
    }

    /// A dial of `address` became a session with `nodeID`.
    mutating func connected(_ address: String, nodeID: NodeID) {
        proven(address, nodeID: nodeID)
        guard var record = records[address] else { return }
        record.connected = true
        record.failures = 0
        // A failure after a success is news again.
        record.warnedKind = nil
        records[address] = record
    }

    /// Records why a dial of `address` or its Hello failed. True if it is
    /// worth a warning: the first failure, another kind of failure, or the
    /// same again `warningInterval` after the last warning; repeats in
    /// between are for the debug log, so a dead seed does not flood it.
    mutating func failed(_ address: String, _ failure: DialFailure, now: UInt64, warningInterval: UInt64) -> Bool {
        guard var record = records[address] else { return true }
        record.lastError = failure
        record.lastErrorAt = now
        let warn = record.warnedKind != failure.kind || now >= record.warnedAt + warningInterval
        if warn {
            record.warnedKind = failure.kind
            record.warnedAt = now
        }
        records[address] = record
        return warn
    }

    /// What a session that ended last knew of its peer: when it was heard
    /// from and how long a round trip took.
    mutating func heard(_ address: String, at time: UInt64, roundTrip: UInt64?) {
        guard var record = records[address] else { return }
        record.lastContact = max(record.lastContact ?? 0, time)
        if let roundTrip { record.roundTrip = roundTrip }
        records[address] = record
    }

    /// A dial failed or a connection ended: wait longer each time, with
    /// jitter so that nodes restarted together do not dial in lockstep.
    mutating func disconnected(_ address: String, now: UInt64, configuration: SyncConfiguration, random: any RandomSource) {
        guard var record = records[address] else { return }
        record.connected = false
        record.failures += 1
        let exponent = min(record.failures - 1, 16)
        let delay = min(configuration.minimumBackoff << UInt64(exponent), configuration.maximumBackoff)
        let jitter = delay / 4 == 0 ? 0 : random.next() % (delay / 4)
        record.nextAttempt = now + delay - delay / 8 + jitter
        records[address] = record
    }

    /// Addresses worth sharing with peers: those whose node was proven.
    var shareable: [PeerAddress] {
        records.values.filter(\.proven).compactMap { record in record.nodeID.map { PeerAddress(nodeID: $0, address: record.address) } }
            .sorted { $0.address < $1.address }
    }
}
