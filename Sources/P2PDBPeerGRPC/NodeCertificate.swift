import Crypto
import Foundation
import NIOCore
import NIOSSL
import P2PDB
import SwiftASN1
import X509

/// The TLS identity of a node: a fresh P-256 key in a self-signed
/// certificate that carries the node key's signature over it.
///
/// TLS proves that a peer holds the certificate's private key; the
/// signature proves that the node key vouches for that certificate key.
/// Together they prove the peer is the node it names: an impostor cannot
/// sign for another node's key, and a man in the middle cannot complete
/// the handshake with a certificate vouched for by the node the victim
/// expects. The binding is checked inside the TLS handshake, so a peer that
/// fails it never gets to send a byte of the protocol.
struct NodeCertificate: Sendable {
    /// Private-use OID under which the binding travels.
    static let bindingOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 59999, 5012, 1]
    static let bindingContext = Array("p2pdb-tls-binding-v1".utf8)

    let certificateDER: [UInt8]
    let privateKeyPEM: String

    init(certificateDER: [UInt8], privateKeyPEM: String) {
        self.certificateDER = certificateDER
        self.privateKeyPEM = privateKeyPEM
    }

    /// Makes a certificate for `key`; a new one for each process start.
    init(key: NodeKey) throws {
        let tlsKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(tlsKey.publicKey)
        let signature = key.sign(Self.bindingContext + Array(publicKey.subjectPublicKeyInfoBytes))
        var binding = DER.Serializer()
        try binding.serialize(ASN1OctetString(contentBytes: ArraySlice(key.nodeID.raw.bytes + signature)))
        let name = try DistinguishedName { CommonName("p2pdb node \(key.nodeID.short)") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(3600 * 24 * 365 * 10),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions([
                Certificate.Extension(oid: Self.bindingOID, critical: false, value: ArraySlice(binding.serializedBytes))
            ]),
            issuerPrivateKey: Certificate.PrivateKey(tlsKey))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        certificateDER = serializer.serializedBytes
        privateKeyPEM = tlsKey.pemRepresentation
    }

    /// The node a certificate proves, or nil if it carries no valid binding.
    static func nodeID(of certificate: Certificate) -> NodeID? {
        guard let binding = certificate.extensions[oid: bindingOID],
            let octets = try? ASN1OctetString(derEncoded: binding.value),
            octets.bytes.count == 32 + 64,
            let raw = Bytes32(Array(octets.bytes.prefix(32)))
        else { return nil }
        let nodeID = NodeID(raw)
        let message = bindingContext + Array(certificate.publicKey.subjectPublicKeyInfoBytes)
        guard Signatures.isValid(signature: Array(octets.bytes.suffix(64)), of: message[...], by: nodeID) else { return nil }
        return nodeID
    }

    static func nodeID(ofDER der: [UInt8]) -> NodeID? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        return nodeID(of: certificate)
    }

    /// The TLS verification of P2PDB peers: the leaf certificate must carry
    /// a valid node binding. There is no certificate authority; identity is
    /// the node key. `verified` learns the proven node ID.
    static func verifier(
        _ verified: @escaping @Sendable (NodeID) -> Void = { _ in }
    ) -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void {
        { certificates, promise in
            guard let leaf = certificates.first, let der = try? leaf.toDERBytes(), let nodeID = nodeID(ofDER: der) else {
                promise.succeed(.failed)
                return
            }
            verified(nodeID)
            promise.succeed(.certificateVerified(VerificationMetadata(nil)))
        }
    }
}
