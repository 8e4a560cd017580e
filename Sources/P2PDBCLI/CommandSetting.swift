import ArgumentParser
import P2PDB

/// One long flag of a command, as ArgumentParser declares it, seen as a
/// setting that the environment or a configuration file may also give.
///
/// The list comes from the command's own declaration (its help dump), so a
/// new flag is a setting without being listed twice, and its environment
/// variable and file key follow from its name:
///
/// ```
/// --max-connections 64        P2PDB_MAX_CONNECTIONS=64        "max-connections": 64
/// --join a:7071 --join b:7071 P2PDB_JOIN="a:7071,b:7071"      "join": ["a:7071", "b:7071"]
/// --mdns / --no-mdns          P2PDB_MDNS=true / false         "mdns": true
/// ```
struct CommandSetting: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// `--name VALUE`, once or (`repeats`) several times.
        case option(repeats: Bool)
        /// `--name`, and `--no-name` when `invertible`.
        case flag(invertible: Bool)
    }

    let name: String
    let kind: Kind
    /// The default as ArgumentParser shows it; nil when there is none.
    let defaultValue: String?

    var environmentName: String { "P2PDB_" + name.uppercased().replacing("-", with: "_") }

    /// Values that `--print-config` shows only as set or not.
    var isSecret: Bool { Self.secrets.contains(name) }

    private static let secrets: Set<String> = ["api-token", "token"]

    /// Flags that act on one invocation rather than configure the node.
    static let notSettings: Set<String> = ["help", "version", "config", "print-config", "json", "experimental-dump-help"]

    /// Every setting of `command`, in the order of its help.
    static func all(of command: any ParsableCommand.Type) -> [CommandSetting] {
        guard let arguments = (try? JSON.parse(command._dumpHelp()))?["command"]?["arguments"]?.arrayValue
        else { return [] }
        let declared: [(name: String, kind: String, repeats: Bool, defaultValue: String?)] = arguments.compactMap { argument in
            guard let kind = argument["kind"]?.stringValue, kind != "positional",
                let names = argument["names"]?.arrayValue,
                let long = names.first(where: { $0["kind"]?.stringValue == "long" })?["name"]?.stringValue
            else { return nil }
            let repeats = argument["isRepeating"] == .bool(true)
            return (long, kind, repeats, argument["defaultValue"]?.stringValue)
        }
        let names = Set(declared.map(\.name))
        return declared.compactMap { argument in
            guard !notSettings.contains(argument.name) else { return nil }
            if argument.kind == "flag" {
                // `--no-mdns` is the other half of `--mdns`, not a setting of its own.
                if argument.name.hasPrefix("no-"), names.contains(String(argument.name.dropFirst(3))) { return nil }
                let invertible = names.contains("no-" + argument.name)
                let defaultValue = argument.defaultValue.map { $0 == "--\(argument.name)" ? "true" : "false" } ?? "false"
                return CommandSetting(name: argument.name, kind: .flag(invertible: invertible), defaultValue: defaultValue)
            }
            return CommandSetting(name: argument.name, kind: .option(repeats: argument.repeats), defaultValue: argument.defaultValue)
        }
    }

    /// The command-line words that give this setting `values`.
    func arguments(_ values: [String]) -> [String] {
        switch kind {
        case .option:
            return values.flatMap { ["--\(name)", $0] }
        case .flag(let invertible):
            if values.last == "true" { return ["--\(name)"] }
            return invertible ? ["--no-\(name)"] : []
        }
    }

    /// Reads a boolean as people write one in an environment file.
    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }
}
