import Crypto
import Foundation
import Logging
import P2PDB
import P2PDBSync
import SwiftASN1
import Testing
import X509

@testable import P2PDBPeerGRPC

@Suite("Peer authentication over mutual TLS")
struct PeerAuthenticationTests {
    /// A node listening on a free loopback port, replicating over gRPC.
    struct Listener {
        let node: Node
        let task: Task<Void, any Error>
        let address: String
        let root: URL

        init() async throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-auth-\(UUID().uuidString)")
            node = try Node.open(DataDirectory(path: root.path), createIfNeeded: true, options: StoreOptions(durability: .off))
            let transport = try GRPCPeerTransport(key: try node.directory.loadKey(), listen: ("127.0.0.1", 0))
            var logger = Logger(label: "listener")
            logger.logLevel = .critical
            let engine = SyncEngine(node: node, transport: transport, logger: logger)
            task = Task { try await engine.run() }
            var bound: String?
            for _ in 0..<200 where bound == nil {
                bound = await transport.listenAddress
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            address = try #require(bound)
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
            try? await node.close()
            try? FileManager.default.removeItem(at: root)
        }
    }

    @Test func anHonestPeerIsIdentifiedByItsNodeKey() async throws {
        let listener = try await Listener()
        let key = NodeKey()
        let dialer = try GRPCPeerTransport(key: key, listen: nil)
        let connection = try await SyncTests.dial(listener.address, from: dialer)
        #expect(connection.remoteNodeID == listener.node.nodeID)
        try await connection.send(.hello(Hello(nodeID: key.nodeID, listenAddress: nil)))
        var iterator = connection.inbound.makeAsyncIterator()
        guard case .hello(let hello)? = try await iterator.next() else {
            Issue.record("no hello from the listener")
            return
        }
        #expect(hello.nodeID == listener.node.nodeID)
        connection.close()
        await listener.stop()
    }

    @Test func aCertificateThatClaimsAnotherNodeIsRefusedInTheHandshake() async throws {
        let listener = try await Listener()
        let victim = NodeKey()
        let impostor = NodeKey()
        let forged = try Self.certificate(claiming: victim.nodeID, signedBy: impostor)
        #expect(NodeCertificate.nodeID(ofDER: forged.certificateDER) == nil)
        let transport = GRPCPeerTransport(
            identity: forged, listen: nil, advertise: nil, logger: Logger(label: "impostor"),
            handshakeTimeout: .seconds(60), helloTimeout: .seconds(60))
        #expect(Self.isTLSFailure(await Self.failure(of: transport, dialing: listener.address)))
        await listener.stop()
    }

    @Test func aGenuineCertificateCannotBeReusedWithAnotherKey() async throws {
        // A man in the middle copies a node's certificate but holds another
        // TLS key: the binding names the certificate's key, not its own.
        let honest = try NodeCertificate(key: NodeKey())
        let stolen = NodeCertificate(certificateDER: honest.certificateDER, privateKeyPEM: P256.Signing.PrivateKey().pemRepresentation)
        let listener = try await Listener()
        let transport = GRPCPeerTransport(
            identity: stolen, listen: nil, advertise: nil, logger: Logger(label: "mitm"),
            handshakeTimeout: .seconds(60), helloTimeout: .seconds(60))
        // NIOSSL will not even load a certificate with a key that is not
        // its own: the dial fails before a byte is sent.
        let failure = await Self.failure(of: transport, dialing: listener.address)
        guard case .other(let detail)? = failure else {
            Issue.record("expected a local TLS configuration failure, got \(String(describing: failure))")
            return
        }
        #expect(detail.contains("Couldn't create SSL context"), "\(detail)")
        await listener.stop()
    }

    /// Why a dial failed; nil if it did not.
    static func failure(of transport: GRPCPeerTransport, dialing address: String) async -> DialFailure? {
        do {
            try await transport.connect(to: address).close()
            return nil
        } catch {
            return error
        }
    }

    /// A dial the peer refused in the TLS handshake reports it as such.
    static func isTLSFailure(_ failure: DialFailure?) -> Bool {
        guard case .tlsFailed(let detail)? = failure, detail.hasPrefix("the peer ended the handshake (alert: ") else {
            Issue.record("expected a TLS failure, got \(String(describing: failure))")
            return false
        }
        return true
    }

    /// A certificate whose binding names `nodeID` but is signed by `signer`.
    static func certificate(claiming nodeID: NodeID, signedBy signer: NodeKey) throws -> NodeCertificate {
        let tlsKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(tlsKey.publicKey)
        let signature = signer.sign(NodeCertificate.bindingContext + Array(publicKey.subjectPublicKeyInfoBytes))
        var binding = DER.Serializer()
        try binding.serialize(ASN1OctetString(contentBytes: ArraySlice(nodeID.raw.bytes + signature)))
        let name = try DistinguishedName { CommonName("forged") }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600), issuer: name,
            subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions([
                Certificate.Extension(oid: NodeCertificate.bindingOID, critical: false, value: ArraySlice(binding.serializedBytes))
            ]),
            issuerPrivateKey: Certificate.PrivateKey(tlsKey))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return NodeCertificate(certificateDER: serializer.serializedBytes, privateKeyPEM: tlsKey.pemRepresentation)
    }
}
