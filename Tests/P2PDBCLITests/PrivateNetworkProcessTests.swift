import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// A shop's private network as a user builds it with the CLI: a network key
/// at head office, a credential per node, `serve --network --credential`.
@Suite("A private network of p2pdb serve processes", .serialized)
struct PrivateNetworkProcessTests {
    @Test func aShopKeepsToItsNetworkAndRevokesARegister() async throws {
        let temp = try TemporaryDirectory()
        let key = temp.path("shop.key"), descriptor = temp.path("shop.network")
        #expect(try p2pdb("network", "create", "--name", "shop", "--out", key, "--descriptor", descriptor).status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try p2pdb("network", "create", "--name", "shop", "--out", key).status != 0, "a network key is never overwritten")

        var ids: [String: String] = [:]
        for (name, role) in [("head", "admin"), ("register", "writer"), ("backoffice", "reader")] {
            let id = try p2pdb("init", "--data", temp.path(name)).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            ids[name] = id
            let admitted = try p2pdb("network", "admit", "--key", key, "--node", id, "--role", role, "--out", temp.path("\(name).credential"))
            #expect(admitted.status == 0, "\(admitted.stderr)")
        }
        let shown = try p2pdb("network", "show", temp.path("register.credential"))
        #expect(shown.stdout.contains("role       writer") && shown.stdout.contains("signature  valid"))
        // A credential for another node does not start this one.
        let wrong = try p2pdb(
            "serve", "--data", temp.path("head"), "--network", descriptor, "--credential", temp.path("register.credential"))
        #expect(wrong.status != 0 && wrong.stderr.contains("issued to another node"), "\(wrong.stderr)")

        func member(_ name: String, join: [PeerNode] = []) throws -> PeerNode {
            try PeerNode(
                directory: temp.path(name), join: join, extra: ["--network", descriptor, "--credential", temp.path("\(name).credential")])
        }
        let head = try member("head")
        let register = try member("register", join: [head])
        let backoffice = try member("backoffice", join: [head])
        let outsider = try PeerNode(directory: temp.path("outsider"), join: [head])
        defer { for node in [head, register, backoffice, outsider] { node.kill9() } }

        #expect(try head.sql("CREATE TABLE prices (item TEXT PRIMARY KEY, cents INTEGER)").status == 0)
        #expect(converged([head, register, backoffice]))
        #expect(try register.sql("INSERT INTO prices VALUES ('apple', 30)").status == 0)
        #expect(converged([head, register, backoffice]))
        #expect(try backoffice.count("prices") == 1)
        let readerWrite = try backoffice.sql("INSERT INTO prices VALUES ('pear', 1)")
        #expect(readerWrite.status != 0 && readerWrite.stderr.contains("may not write"), "\(readerWrite.stderr)")
        #expect(try outsider.status()["network"]?["mode"] == .string("open"))
        #expect(try head.status()["network"]?["role"] == .string("admin"))
        #expect(try outsider.status()["entries"] == .number("0"), "nothing reaches a node outside the network")

        // Head office revokes the register, through the running node's API.
        let revoked = try p2pdb("network", "revoke", "--data", head.directory, "--node", ids["register"] ?? "", "--json")
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(try JSON.parse(revoked.stdout)["entry"]?.stringValue?.count == 64, "\(revoked.stdout)")
        #expect(converged([head, register, backoffice]))
        let late = try register.sql("INSERT INTO prices VALUES ('plum', 5)")
        #expect(late.status != 0 && late.stderr.contains("revoked"), "\(late.stderr)")
        // Stopped, the register's directory keeps its network and its
        // revocation: local commands need no flags and still refuse.
        register.kill9()
        #expect(try register.status()["network"]?["mode"] == .string("private"))
        #expect(try register.sql("INSERT INTO prices VALUES ('plum', 5)").stderr.contains("revoked"))
        #expect(try head.count("prices") == 1)
        #expect(try outsider.status()["entries"] == .number("0"))
    }
}
