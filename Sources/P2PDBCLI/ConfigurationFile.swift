import Foundation
import P2PDB

/// `serve --config FILE`: the node's settings as one JSON object whose keys
/// are the long flag names.
///
/// ```json
/// {
///   "data": "/var/lib/p2pdb/register1",
///   "http": "127.0.0.1:7070",
///   "listen": "0.0.0.0:7071",
///   "join": ["192.168.1.20:7071", "192.168.1.21:7071"],
///   "mdns": true,
///   "max-connections": 256,
///   "log-format": "json"
/// }
/// ```
///
/// A file that holds `api-token` must be private to the user who runs the
/// node (mode 0600), as the token file in the data directory is.
enum ConfigurationFile {
    /// The words each key of the file at `path` gives, checked against
    /// `settings`.
    static func read(_ path: String, settings: [CommandSetting]) throws(P2PDBError) -> [String: [String]] {
        let document: JSON
        do {
            document = try PrivateFile.readJSON(path, what: "configuration file")
        } catch let error as P2PDBError {
            throw error
        } catch {
            throw P2PDBError(.invalidInput, "cannot read the configuration file \(path): \(error)")
        }
        guard case .object(let members) = document else {
            throw P2PDBError(.invalidInput, "the configuration file \(path) must hold one JSON object of settings, such as {\"http\": \"127.0.0.1:7070\"}")
        }
        var words: [String: [String]] = [:]
        for (key, value) in members {
            guard let setting = settings.first(where: { $0.name == key }) else {
                throw P2PDBError(
                    .invalidInput,
                    "the configuration file \(path) has the key \"\(key)\", which is no setting; keys are the long flags of `p2pdb serve`: \(settings.map(\.name).joined(separator: ", "))")
            }
            guard words[key] == nil else { throw P2PDBError(.invalidInput, "the configuration file \(path) gives \"\(key)\" twice") }
            words[key] = try Self.words(value, for: setting, in: path)
        }
        if words["api-token"] != nil {
            // The check refuses a file other users can read.
            _ = try PrivateFile.read(path, holding: "an API token")
        }
        return words
    }

    private static func words(_ value: JSON, for setting: CommandSetting, in path: String) throws(P2PDBError) -> [String] {
        func wrong(_ expected: String) -> P2PDBError {
            P2PDBError(.invalidInput, "in the configuration file \(path), \"\(setting.name)\" must be \(expected), not \(value.text)")
        }
        func scalar(_ value: JSON) -> String? {
            switch value {
            case .string(let text): return text
            case .number(let text): return text
            default: return nil
            }
        }
        switch setting.kind {
        case .flag:
            guard case .bool(let flag) = value else { throw wrong("true or false") }
            return [flag ? "true" : "false"]
        case .option(repeats: true):
            if let single = scalar(value) { return [single] }
            guard let items = value.arrayValue else { throw wrong("a list of strings") }
            var words: [String] = []
            for item in items {
                guard let word = scalar(item) else { throw wrong("a list of strings") }
                words.append(word)
            }
            return words
        case .option:
            guard let word = scalar(value) else { throw wrong("a string or a number") }
            return [word]
        }
    }
}
