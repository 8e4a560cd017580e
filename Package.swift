// swift-tools-version:6.1
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "P2PDB",
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "P2PDB", targets: ["P2PDB"]),
        // The node with replication: the sync engine, the gRPC peer transport, LAN discovery.
        .library(name: "P2PDBReplication", targets: ["P2PDBReplication"]),
        .executable(name: "p2pdb", targets: ["p2pdb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        // SQLite entry points that the system header hides behind compile-time
        // flags (pre-update hook) or that Swift cannot call (variadic db_config).
        .target(
            name: "CSQLiteExtras",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        // Core types, encodings and merge rules. No I/O.
        .target(
            name: "P2PDBCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSwift
        ),
        // The replica: SQLite through GRDB, the log tables, change capture,
        // applying entries, group commit.
        .target(
            name: "P2PDBStorage",
            dependencies: [
                "P2PDBCore",
                "CSQLiteExtras",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // The library an app embeds: a data directory, its key, its replica.
        .target(
            name: "P2PDB",
            dependencies: [
                "P2PDBCore",
                "P2PDBStorage",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Peer-to-peer replication, independent of any network: sessions,
        // gossip, anti-entropy, membership. Time, randomness and the
        // transport are protocols, so a seeded simulator can drive it.
        .target(
            name: "P2PDBSync",
            dependencies: [
                "P2PDB",
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        // The real network under P2PDBSync: gRPC over HTTP/2 and mutually
        // authenticated TLS, each certificate bound to its node key.
        .target(
            name: "P2PDBPeerGRPC",
            dependencies: [
                "P2PDBSync",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Deterministic simulation: many nodes in one process, one seeded
        // scheduler in virtual time, a faulty network, and a checker.
        .target(
            name: "P2PDBSimulation",
            dependencies: [
                "P2PDB",
                "P2PDBSync",
                // Corrupted messages are corrupted as frames on the wire.
                "P2PDBPeerGRPC",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Seeded mutation fuzzing of every decoder of outside input, and a
        // hostile client that sends random SQL to a node's HTTP API.
        .target(
            name: "P2PDBFuzz",
            dependencies: [
                "P2PDB", "P2PDBSync", "P2PDBServer", "P2PDBPeerGRPC", "P2PDBDiscovery",
                // The reference lists of PRAGMAs and functions.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSwift
        ),
        // Random SQL over the whole accepted surface on several replicas,
        // checked for convergence and against plain SQLite.
        .target(
            name: "P2PDBSurface",
            dependencies: [
                "P2PDB",
                // SeededRandomSource, the simulation's SplitMix64.
                "P2PDBSync",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSwift
        ),
        // What an app embeds to replicate: `node.startSync(...)`, and the
        // setup `p2pdb serve` shares.
        .target(
            name: "P2PDBReplication",
            dependencies: [
                "P2PDB", "P2PDBSync", "P2PDBPeerGRPC", "P2PDBDiscovery",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        // A small register that sells and syncs with another: the embedding example.
        .executableTarget(
            name: "RegisterExample",
            dependencies: ["P2PDBReplication"],
            path: "Examples/Register",
            swiftSettings: strictSwift
        ),
        // Finding peers on the LAN: mDNS/DNS-SD over UDP multicast.
        .target(
            name: "P2PDBDiscovery",
            dependencies: [
                "P2PDB",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // `p2pdb serve`: the HTTP/JSON API, the change feed, metrics and the
        // node's lifecycle as a service.
        .target(
            name: "P2PDBServer",
            dependencies: [
                "P2PDB",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // Benchmarks run by `p2pdb bench`, each beside plain SQLite.
        .target(
            name: "P2PDBBench",
            dependencies: [
                "P2PDB",
                "P2PDBSync",
                "P2PDBPeerGRPC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSwift
        ),
        // The `p2pdb` command line.
        .target(
            name: "P2PDBCLI",
            dependencies: [
                "P2PDB",
                "P2PDBServer",
                "P2PDBSync",
                "P2PDBPeerGRPC",
                "P2PDBDiscovery",
                "P2PDBReplication",
                "P2PDBSimulation",
                "P2PDBFuzz",
                "P2PDBSurface",
                "P2PDBBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "p2pdb",
            dependencies: ["P2PDBCLI"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "P2PDBCoreTests",
            dependencies: [
                "P2PDBCore", "P2PDBTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "P2PDBStorageTests",
            dependencies: [
                "P2PDB",
                "P2PDBStorage",
                "P2PDBTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "P2PDBServerTests",
            dependencies: ["P2PDB", "P2PDBServer", "P2PDBTestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strictSwift
        ),
        // Starts child processes for the tests without Foundation's Process.
        .target(name: "P2PDBTestSupport", path: "Tests/P2PDBTestSupport", swiftSettings: strictSwift),
        .testTarget(
            name: "P2PDBSyncTests",
            dependencies: [
                "P2PDB", "P2PDBSync", "P2PDBPeerGRPC", "P2PDBDiscovery", "P2PDBReplication", "P2PDBSimulation", "p2pdb", "P2PDBTestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "P2PDBSimulationTests",
            dependencies: ["P2PDB", "P2PDBSimulation", "P2PDBFuzz", "P2PDBSurface", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "P2PDBCLITests",
            dependencies: ["P2PDB", "p2pdb", "P2PDBTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
    ]
)
