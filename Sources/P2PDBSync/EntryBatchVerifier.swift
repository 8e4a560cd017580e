import Foundation
import P2PDB

/// Decodes entries and checks their signatures on every core (signature
/// checks bound how fast a node catches up), on dispatch threads rather
/// than Swift's shared pool, so the node's API keeps answering meanwhile.
enum EntryBatchVerifier {
    /// The entries that decode and verify, in their original order, and a
    /// reason for each that does not.
    static func verify(_ bodies: [[UInt8]]) async -> (entries: [Entry], failures: [String]) {
        let results = await ComputeQueue.signatures.run { EntryVerifier.check(bodies) }
        var entries: [Entry] = []
        var failures: [String] = []
        for result in results {
            switch result {
            case .success(let entry): entries.append(entry)
            case .failure(let error): failures.append(error.description)
            }
        }
        return (entries, failures)
    }
}

/// Entries from a peer after the checks that need no engine state: those
/// the log holds already are dropped (they cost no signature check), the
/// rest are decoded and their signatures verified. The runtime checks the
/// next message's entries while the engine applies the previous ones.
public struct CheckedEntries: Sendable {
    public var entries: [Entry]
    public var failures: [String]
    /// Entries the log already held.
    public var duplicates: Int
    /// How many entries the message carried.
    public var received: Int
    /// About how many bytes the message took on the wire.
    public var bytes: Int

    public static func check(_ bodies: [[UInt8]], against store: ReplicaStore) async -> CheckedEntries {
        let ids = bodies.map { EntryID(Signatures.sha256($0)) }
        let held = (try? await store.held(ids)) ?? []
        var fresh: [[UInt8]] = []
        for (body, id) in zip(bodies, ids) where !held.contains(id) { fresh.append(body) }
        let (entries, failures) = await EntryBatchVerifier.verify(fresh)
        return CheckedEntries(
            entries: entries, failures: failures, duplicates: bodies.count - fresh.count, received: bodies.count,
            bytes: SyncMessage.entries(bodies).approximateSize)
    }
}
