import Foundation
import P2PDBCore

/// A node's data directory: its key, its replica file, its API token.
///
/// ```
/// DIR/node.key        Ed25519 private key (mode 0600)
/// DIR/api.token       bearer token of the HTTP API (mode 0600)
/// DIR/replica.sqlite  replicated tables and the log (plus -wal, -shm)
/// DIR/lock            held by the process that has the node open
/// DIR/network.json    the private network it belongs to, if any
/// DIR/credential.json its credential in that network
/// ```
public struct DataDirectory: Sendable {
    public let url: URL

    public init(path: String) {
        url = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    public var path: String { url.path }
    public var keyURL: URL { url.appendingPathComponent("node.key") }
    public var tokenURL: URL { url.appendingPathComponent("api.token") }
    public var replicaURL: URL { url.appendingPathComponent("replica.sqlite") }
    public var lockURL: URL { url.appendingPathComponent("lock") }
    /// Present from `init` until the first replica is created: that replica
    /// belongs to a key that has never written. A replica created without
    /// it is for a key that may have (see ``OwnHistory``).
    public var freshIdentityURL: URL { url.appendingPathComponent("replica.fresh") }
    /// Written by a running `p2pdb serve`: where its HTTP API listens.
    public var serveInfoURL: URL { url.appendingPathComponent("serve.json") }

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: keyURL.path) }

    private static let keyHeader = "p2pdb-ed25519-seed-v1"

    /// Creates the directory with a new node key and API token.
    ///
    /// - Throws: ``P2PDBError`` if the directory is already initialised or
    ///   cannot be written.
    @discardableResult
    public func initialize(key: NodeKey = NodeKey()) throws -> NodeKey {
        guard !isInitialized else {
            let node = (try? loadKey().nodeID.hex) ?? "with an unreadable key"
            throw P2PDBError(.invalidInput, "\(path) is already initialised (node \(node))")
        }
        // A new key on a replica its old key wrote would reuse that node's
        // history under another name, or, restored later, equivocate.
        guard !FileManager.default.fileExists(atPath: replicaURL.path) else {
            throw P2PDBError(
                .invalidInput,
                "\(path) holds a replica but no node.key; restore node.key from a backup of this directory, or start a new directory and fill it from a peer")
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw P2PDBError(.storage, "cannot create \(path): \(error.localizedDescription)")
        }
        try secure()
        try writePrivate(tokenURL, Self.newToken() + "\n")
        try writePrivate(freshIdentityURL, "")
        try writePrivate(keyURL, "\(Self.keyHeader)\n\(Hex.encode(key.seed))\n")
        return key
    }

    /// Makes the directory its owner's alone: mode 0700, its files 0600.
    /// Refuses a directory that belongs to another user, and a node key that
    /// others could read or that is not a plain file (a planted symlink).
    public func secure() throws {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            throw P2PDBError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw P2PDBError(.invalidInput, "\(path) is not a directory") }
        guard status.st_uid == geteuid() else {
            throw P2PDBError(
                .refused, "\(path) belongs to user \(status.st_uid), not to this user (\(geteuid())); run `chown -R \(geteuid()) \(path)` if it is yours")
        }
        if status.st_mode & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw P2PDBError(.storage, "cannot restrict \(path) to its owner: \(String(cString: strerror(errno)))")
        }
        try PrivateFile.checkIfPresent(keyURL.path, holding: "the node's key")
        for file in [tokenURL, replicaURL, lockURL, serveInfoURL, freshIdentityURL, networkURL, credentialURL] + ["-wal", "-shm"].map({ URL(fileURLWithPath: replicaURL.path + $0) }) {
            if lstat(file.path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o077 != 0 {
                chmod(file.path, 0o600)
            }
        }
    }

    /// Fails unless the directory has been initialised.
    public func requireInitialized() throws {
        guard isInitialized else {
            throw P2PDBError(.notInitialized, "\(path) is not an initialised P2PDB data directory; run `p2pdb init --data \(path)` first")
        }
    }

    public func loadKey() throws -> NodeKey {
        try requireInitialized()
        let text: String
        do {
            text = try String(contentsOf: keyURL, encoding: .utf8)
        } catch {
            throw P2PDBError(.storage, "cannot read \(keyURL.path): \(error.localizedDescription)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard lines.count == 2, lines[0] == Self.keyHeader, let seed = Hex.decode(lines[1]) else {
            throw P2PDBError(.corrupt, "\(keyURL.path) is not a P2PDB node key")
        }
        do {
            return try NodeKey(seed: seed)
        } catch {
            throw P2PDBError(.corrupt, "\(keyURL.path): \(error)")
        }
    }

    /// The API token, creating one if an older directory has none.
    public func apiToken() throws -> String {
        try requireInitialized()
        if let text = try? String(contentsOf: tokenURL, encoding: .utf8) {
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return token }
        }
        let token = Self.newToken()
        try writePrivate(tokenURL, token + "\n")
        return token
    }

    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    private func writePrivate(_ file: URL, _ contents: String) throws {
        try PrivateFile.write(contents, to: file.path)
    }
}
