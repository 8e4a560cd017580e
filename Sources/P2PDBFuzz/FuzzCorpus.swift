import Foundation
import P2PDB
import P2PDBDiscovery
import P2PDBPeerGRPC
import P2PDBSync

/// The starting inputs of each fuzz target: valid examples of every shape
/// the decoders accept, built from a fixed key so they never change. They
/// are committed under `Fuzz/Corpus/<target>/` (`p2pdb fuzz --write-corpus`)
/// and the tests replay every file there.
public enum FuzzCorpus {
    public static func seeds(for target: Fuzzer.Target) throws -> [[UInt8]] {
        switch target {
        case .entry, .signed: return try entries().map(\.bytes)
        case .bundle:
            let bodies = try entries().map(\.bytes)
            return [BundleCodec.encode(bodies), BundleCodec.encode([]), BundleCodec.encode(Array(bodies.prefix(1)))]
        case .frame:
            return try frames().map { try FrameCoding.encode($0) }
        case .http:
            return [
                #"{"sql": "SELECT * FROM items WHERE id = ?", "params": [1]}"#,
                #"{"sql": "INSERT INTO items VALUES (?, ?, ?)", "params": ["apple", 0.5, {"base64": "AAEC"}]}"#,
                #"{"statements": [{"sql": "INSERT INTO t VALUES (1)"}, {"sql": "UPDATE t SET v = ? WHERE id = ?", "params": [null, -7]}]}"#,
                #"{"sql": "SELECT '\u00e9\n\"'", "params": [1e308, true, "x"]}"#,
            ].map { Array($0.utf8) }
        case .dns:
            let discovery = try MDNSDiscovery(nodeID: try key().nodeID, advertise: "192.168.1.20:7071", logger: .init(label: "fuzz")) { _, _ in }
            return [discovery.announcement().encoded()]
        }
    }

    static func key() throws -> NodeKey { try NodeKey(seed: Array(repeating: 7, count: 32)) }

    static func entries() throws -> [Entry] {
        let key = try key()
        let table = TableDefinition(
            name: "items",
            columns: [
                ColumnDefinition(name: "id", declaredType: "TEXT", notNull: false, defaultSQL: nil, collation: nil),
                ColumnDefinition(name: "stock", declaredType: "COUNTER INTEGER", notNull: true, defaultSQL: "0", collation: nil),
            ],
            primaryKey: ["id"])
        let first = Entry.make(
            author: key, seq: 1, lamport: 1, parents: [], wallTime: 1_700_000_000_000,
            payload: EntryPayload(schemaChanges: [.createTable(table)]))
        let rows = TableChanges(
            table: "items", primaryKeyColumns: ["id"], columns: ["stock", "label"],
            rows: [
                RowChange(kind: .insert, causalLength: 1, primaryKey: ["apple"], values: [ColumnValue(column: 1, value: "green")], deltas: [ColumnDelta(column: 0, delta: 5)]),
                RowChange(kind: .update, causalLength: 1, primaryKey: ["pear"], values: [ColumnValue(column: 1, value: .real(1.5))]),
                RowChange(kind: .delete, causalLength: 2, primaryKey: [.blob([0, 1, 2])]),
            ])
        let second = Entry.make(
            author: key, seq: 2, lamport: 2, parents: [first.id], wallTime: 1_700_000_000_001,
            payload: EntryPayload(
                schemaChanges: [.addColumn(table: "items", column: ColumnDefinition(name: "label", declaredType: "TEXT", notNull: false, defaultSQL: "'x'", collation: nil))],
                tableChanges: [rows]))
        return [first, second]
    }

    static func frames() throws -> [SyncMessage] {
        let key = try key()
        let entries = try entries()
        let vector = VersionVector([key.nodeID: 2])
        return [
            .hello(Hello(nodeID: key.nodeID, listenAddress: "10.0.0.1:7071")),
            .summary(versionVector: vector, heads: entries.map(\.id)),
            .pull(have: vector),
            .entries(entries.map(\.bytes)),
            .pullDone,
            .want(entries.map(\.id)),
            .peers([PeerAddress(nodeID: key.nodeID, address: "10.0.0.2:7071")]),
            .refusal("it belongs to another network"),
            .ping(nonce: 1_234),
            .pong(nonce: 1_234),
        ]
    }

    /// Writes the seeds as files, one directory per target.
    public static func write(to directory: URL) throws {
        for target in Fuzzer.Target.allCases {
            let folder = directory.appendingPathComponent(target.rawValue)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (index, seed) in try seeds(for: target).enumerated() {
                try Data(seed).write(to: folder.appendingPathComponent(String(format: "seed-%03d.bin", index)))
            }
        }
    }

    /// The committed corpus of one target: every file in its directory.
    public static func load(_ target: Fuzzer.Target, from directory: URL) throws -> [[UInt8]] {
        let folder = directory.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        return try files.map { Array(try Data(contentsOf: folder.appendingPathComponent($0))) }
    }
}
