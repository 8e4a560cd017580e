import Foundation
import Logging
import P2PDB
import P2PDBSync
import Synchronization

/// The replication each node runs, by node: `Node` is the storage library's
/// type, so what replication adds to it is kept here.
private let running = Mutex<[ObjectIdentifier: (replication: Replication, task: Task<Void, any Error>)]>([:])

extension Node {
    /// Starts replicating with other nodes, as `p2pdb serve --listen
    /// --join` does, until ``stopSync()`` or until the node closes.
    ///
    /// ```swift
    /// let node = try Node.open(DataDirectory(path: "register-1"), createIfNeeded: true)
    /// try await node.startSync(SyncOptions(listen: "0.0.0.0:7071", join: ["192.168.1.20:7071"]))
    /// for await peers in node.peers {
    ///     print(peers.filter(\.connected).count, "registers connected")
    /// }
    /// ```
    ///
    /// Writes made while no peer is reachable are kept and sent when one
    /// is; entries from peers are merged as they arrive, and
    /// ``changes()`` and ``observe(_:_:removingDuplicates:)`` report them
    /// like local writes.
    ///
    /// - Throws: ``P2PDBError`` `.invalidInput` for bad options or if the
    ///   node already replicates; `.unavailable` if the listening address
    ///   cannot be bound.
    public func startSync(_ options: SyncOptions, logger: Logger = Logger(label: "p2pdb.sync")) async throws {
        let id = ObjectIdentifier(self)
        guard running.withLock({ $0[id] == nil }) else {
            throw P2PDBError(.invalidInput, "this node already replicates: call stopSync() before starting again")
        }
        let replication = try await Replication.prepare(node: self, options: options, logger: logger)
        let task = Task { try await replication.run() }
        let taken = running.withLock { running -> Bool in
            guard running[id] == nil else { return false }
            running[id] = (replication, task)
            return true
        }
        if !taken {
            task.cancel()
            throw P2PDBError(.invalidInput, "this node already replicates: call stopSync() before starting again")
        }
    }

    /// Stops replicating and waits until the engine has stopped; the node
    /// stays open for local reads and writes.
    public func stopSync() async {
        let stopped = running.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) }
        guard let stopped else { return }
        stopped.task.cancel()
        _ = try? await stopped.task.value
    }

    /// Whether ``startSync(_:logger:)`` is in effect.
    public var isSyncing: Bool { running.withLock { $0[ObjectIdentifier(self)] != nil } }

    /// The status of each known peer (address, connection, lag, last
    /// contact, last error) now, and again each time it changes, looked at
    /// every `interval`; an empty list while the node does not replicate.
    public func peerUpdates(every interval: Duration = .seconds(1)) -> AsyncStream<[PeerStatus]> {
        let id = ObjectIdentifier(self)
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var last: [PeerStatus]?
                while !Task.isCancelled {
                    let engine = running.withLock { $0[id]?.replication.engine }
                    let peers = await engine?.peers() ?? []
                    if peers != last { continuation.yield(peers) }
                    last = peers
                    try? await Task.sleep(for: interval)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// ``peerUpdates(every:)``, looked at once a second.
    public var peers: AsyncStream<[PeerStatus]> { peerUpdates() }
}
