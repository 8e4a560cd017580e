import Foundation
import P2PDB
import P2PDBServer
import Testing

/// `serve --api-tokens FILE`: what the file may hold, and the message that
/// refuses anything else, naming the file and the line but not the token.
@Suite("API tokens file")
struct TokenFileTests {
    static let token = "secret-token-0123456789"

    /// Writes `text` to a new file of the given mode and reads it.
    static func read(_ text: String, mode: mode_t = 0o600) throws -> (path: String, result: Result<APITokenFile, P2PDBError>) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-tokens-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        chmod(path, mode)
        return (path, Result { () throws(P2PDBError) in try APITokenFile(path: path) })
    }

    @Test func rolesCommentsAndBlankLines() throws {
        let text = "# reporting\n\nread-only \(Self.token)\r\n\tread-write\t\(Self.token)-2  \n  # admin tools\nadmin \(Self.token)-3\n"
        let file = try Self.read(text).result.get()
        let tokens = try file.tokens(besides: "the-node-token-0123456789")
        #expect(tokens == [
            APIToken(Self.token, role: .readOnly), APIToken(Self.token + "-2", role: .readWrite), APIToken(Self.token + "-3", role: .admin),
        ])
        #expect(try Self.read("# no tokens yet\n").result.get().tokens(besides: Self.token).isEmpty)
    }

    @Test(arguments: [
        ("read-only \(TokenFileTests.token)\nwriter \(TokenFileTests.token)-2\n", "line 2", "must start with a role"),
        ("read-only \(TokenFileTests.token)\nREAD-ONLY \(TokenFileTests.token)-2\n", "line 2", "must start with a role"),
        ("\nread-write\n", "line 2", "has no token"),
        ("read-only \(TokenFileTests.token) # the dashboard\n", "line 1", "more than ROLE TOKEN"),
        ("admin short-token\n", "line 1", "at least 16 characters"),
        ("admin \(TokenFileTests.token)é\n", "line 1", "visible ASCII"),
        ("read-only \(TokenFileTests.token)\n# again\nadmin \(TokenFileTests.token)\n", "line 3", "the same token as line 1"),
    ])
    func aBadLineIsRefusedByNumber(text: String, line: String, problem: String) throws {
        let (path, result) = try Self.read(text)
        guard case .failure(let error) = result else {
            Issue.record("accepted: \(text)")
            return
        }
        #expect(error.kind == .invalidInput)
        #expect(error.message.contains("\(path), \(line):"), "\(error.message)")
        #expect(error.message.contains(problem), "\(error.message)")
        #expect(!error.message.contains(Self.token), "\(error.message)")
    }

    @Test func theNodesOwnTokenIsNotGivenTwice() throws {
        let (path, result) = try Self.read("read-only \(Self.token)-2\nread-only \(Self.token)\n")
        let file = try result.get()
        #expect(throws: P2PDBError(.invalidInput, "the API tokens file \(path), line 2: this is the node's own API token, which is admin already; give each token once")) {
            try file.tokens(besides: Self.token)
        }
    }

    /// Like the node key: others must not read the tokens, nor add their own.
    @Test(arguments: [0o644, 0o640, 0o620, 0o606, 0o602] as [mode_t])
    func aFileOtherUsersCanReadOrChangeIsRefused(mode: mode_t) throws {
        let (path, result) = try Self.read("read-only \(Self.token)\n", mode: mode)
        guard case .failure(let error) = result else {
            Issue.record("mode \(String(mode, radix: 8)) accepted")
            return
        }
        #expect(error.kind == .refused)
        #expect(error.message.contains(path) && error.message.contains("chmod 600"), "\(error.message)")
    }

    @Test func aMissingFileOrADirectoryIsRefused() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-no-such-\(UUID().uuidString)").path
        let error = #expect(throws: P2PDBError.self) { try APITokenFile(path: missing) }
        #expect(error?.message.contains("cannot read \(missing)") == true, "\(String(describing: error))")
        #expect(throws: P2PDBError.self) { try APITokenFile(path: FileManager.default.temporaryDirectory.path) }
    }
}
