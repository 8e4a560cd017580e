import Foundation
import Crypto

/// A node's Ed25519 signing key. Its public half is the node's ``NodeID``.
public struct NodeKey: Sendable {
    private let privateKey: Curve25519.Signing.PrivateKey
    public let nodeID: NodeID

    /// A new random key.
    public init() {
        self.init(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// The key with the given 32-byte seed (the "raw representation").
    public init(seed: [UInt8]) throws(KeyError) {
        guard seed.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw .invalidPrivateKey
        }
        self.init(privateKey: key)
    }

    private init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        // An Ed25519 public key is always 32 bytes.
        self.nodeID = NodeID(Bytes32(privateKey.publicKey.rawRepresentation)!)
    }

    /// The 32-byte seed, for storing the key.
    public var seed: [UInt8] { Array(privateKey.rawRepresentation) }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        // Signing only fails on platform errors that cannot occur for a valid key.
        Array(try! privateKey.signature(for: message))
    }
}

public enum KeyError: Error, Sendable, CustomStringConvertible {
    case invalidPrivateKey

    public var description: String {
        "the node key is not a valid Ed25519 private key (32-byte seed expected)"
    }
}

/// Signature and hash checks.
public enum Signatures {
    public static func isValid(signature: some DataProtocol, of message: some DataProtocol, by author: NodeID) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: author.raw.bytes) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    public static func sha256(_ bytes: some DataProtocol) -> Bytes32 {
        var digest = [UInt8]()
        digest.reserveCapacity(32)
        digest.append(contentsOf: SHA256.hash(data: bytes))
        return Bytes32(digest)!
    }
}
