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

    /// A loopback port nobody listens on right now.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw P2PDBError(.unavailable, "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func aRealNodeRefusesImpostors() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-impostor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(path: root.appendingPathComponent("node").path)
        _ = try directory.initialize()
        let victim = try directory.loadKey().nodeID
        let port = try Self.freePort()
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
