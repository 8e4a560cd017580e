import Foundation
import Logging
import P2PDB
import P2PDBSync
import P2PDBTestSupport
import Testing

@testable import P2PDBPeerGRPC

/// A real `p2pdb serve` process refuses peers that claim to be someone
/// else: a certificate that names its own node ID without its key fails the
/// TLS handshake, and a Hello that names another node than the certificate
/// proved ends the session, with a log line.
@Suite("Impostors against a real node")
struct ImpostorProcessTests {
    /// The `p2pdb` binary built beside the test bundle.
    static let binary: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("p2pdb")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/p2pdb")
    }()

    @Test func aRealNodeRefusesImpostors() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-impostor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(path: root.appendingPathComponent("node").path)
        _ = try directory.initialize()
        let victim = try directory.loadKey().nodeID
        let port = try freePort()
        let log = root.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = try ChildProcess(
            Self.binary.path,
            ["serve", "--data", directory.path, "--http", "127.0.0.1:0", "--listen", "127.0.0.1:\(port)", "--log-level", "info"],
            stderr: .file(log.path))
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let address = "127.0.0.1:\(port)"
        @Sendable func logged(_ text: String) -> Bool {
            (try? String(contentsOf: log, encoding: .utf8))?.contains(text) ?? false
        }
        #expect(await eventually { logged("peer endpoint listening") })

        // Without the victim's key, a certificate naming the victim fails.
        let forged = try PeerAuthenticationTests.certificate(claiming: victim, signedBy: NodeKey())
        let impostor = GRPCPeerTransport(
            identity: forged, listen: nil, advertise: nil, logger: Logger(label: "impostor"),
            handshakeTimeout: .seconds(60), helloTimeout: .seconds(60))
        #expect(PeerAuthenticationTests.isTLSFailure(await PeerAuthenticationTests.failure(of: impostor, dialing: address)))

        // With its own genuine certificate, an attacker's Hello may not
        // claim another node either.
        let attacker = NodeKey()
        let honestTransport = try GRPCPeerTransport(key: attacker, listen: nil)
        let connection = try await SyncTests.dial(address, from: honestTransport)
        #expect(connection.remoteNodeID == victim)
        try await connection.send(.hello(Hello(nodeID: NodeKey().nodeID, listenAddress: nil)))
        var accepted = false
        do {
            for try await message in connection.inbound {
                if case .summary = message { accepted = true }
            }
        } catch {}
        #expect(!accepted)
        #expect(await eventually { logged("refusing peer") && logged("but authenticated as \(attacker.nodeID.short)") })
        connection.close()
        #expect(process.isRunning)
    }
}
