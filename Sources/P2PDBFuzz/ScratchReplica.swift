import Foundation
import P2PDB

/// A replica in a temporary directory that the `signed` fuzz target applies
/// entries to, removed when the run ends.
final class ScratchReplica: Sendable {
    private let store: ReplicaStore
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ReplicaStore(
            path: directory.appendingPathComponent("replica.sqlite").path, key: NodeKey(),
            options: StoreOptions(durability: .off, maximumPending: 1000))
    }

    /// Decodes, verifies and applies one entry; true if the replica took it.
    func accepts(_ input: [UInt8]) async -> Bool {
        guard let entry = try? Entry(bytes: input), let report = try? await store.apply([entry]) else { return false }
        return report.applied > 0 || report.pending > 0
    }

    func problems() async throws -> [String] { try await store.verify().problems }

    /// Every entry held, in log order.
    func log() async throws -> [[UInt8]] { try await store.entries(after: 0, limit: .max).map(\.entry.bytes) }

    /// What `verify` finds wrong with the replica; closes and removes it.
    func finish() async throws -> [String] {
        let report = try await store.verify()
        try await store.close()
        try? FileManager.default.removeItem(at: directory)
        return report.problems
    }
}
