import Foundation
import P2PDB

/// `DIR/serve.json`, written by a running `p2pdb serve` so that other
/// commands on the same data directory find its HTTP API.
struct ServeInfo {
    var url: String
    var pid: Int32

    static func read(_ directory: DataDirectory) -> ServeInfo? {
        guard let data = FileManager.default.contents(atPath: directory.serveInfoURL.path),
            let json = try? JSON.parse(Array(data)), case .string(let url)? = json["url"],
            case .number(let pid)? = json["pid"], let pid = Int32(pid)
        else { return nil }
        return ServeInfo(url: url, pid: pid)
    }

    func write(_ directory: DataDirectory) throws {
        let json = JSON.object([("url", .string(url)), ("pid", .integer(pid))])
        let temporary = directory.serveInfoURL.path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((json.text + "\n").utf8)),
            rename(temporary, directory.serveInfoURL.path) == 0
        else { throw P2PDBError(.storage, "cannot write \(directory.serveInfoURL.path)") }
    }

    static func remove(_ directory: DataDirectory) {
        try? FileManager.default.removeItem(at: directory.serveInfoURL)
    }
}
