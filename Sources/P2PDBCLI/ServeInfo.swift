import Foundation
import P2PDB

/// `DIR/serve.json`, written by a running `p2pdb serve` so that other
/// commands on the same data directory find its HTTP API.
///
/// It holds the token the node accepts, which differs from `api.token`
/// when the node runs with `--api-token`; so the file is its owner's only
/// (mode 0600), like the token file.
struct ServeInfo {
    var url: String
    var pid: Int32
    var token: String

    static func read(_ directory: DataDirectory) -> ServeInfo? {
        guard let data = FileManager.default.contents(atPath: directory.serveInfoURL.path),
            let json = try? JSON.parse(Array(data)), case .string(let url)? = json["url"],
            case .number(let pid)? = json["pid"], let pid = Int32(pid), case .string(let token)? = json["token"]
        else { return nil }
        return ServeInfo(url: url, pid: pid, token: token)
    }

    func write(_ directory: DataDirectory) throws {
        let json = JSON.object([("url", .string(url)), ("pid", .integer(pid)), ("token", .string(token))])
        let path = directory.serveInfoURL.path
        let temporary = path + ".tmp"
        let bytes = Array((json.text + "\n").utf8)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw P2PDBError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            throw P2PDBError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ directory: DataDirectory) {
        try? FileManager.default.removeItem(at: directory.serveInfoURL)
    }
}
