import ArgumentParser
import Foundation
import P2PDB

/// Where a setting's value came from.
enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    case commandLine
    case environment(String)
    case file(String)
    case defaultValue

    var description: String {
        switch self {
        case .commandLine: return "command line"
        case .environment(let variable): return "environment \(variable)"
        case .file(let path): return "file \(path)"
        case .defaultValue: return "default"
        }
    }
}

/// The command line as ArgumentParser should parse it: the words the user
/// typed, plus the settings they did not type taken from the environment
/// and, for `serve`, from a configuration file.
///
/// Precedence, per setting: command line, then environment (`P2PDB_HTTP`),
/// then the file (`--config FILE` or `P2PDB_CONFIG`), then the default. A
/// setting given at one level replaces the lower ones whole: `--join X` on
/// the command line drops the file's `join` list rather than adding to it.
/// ArgumentParser then checks every value, wherever it came from, in one
/// place.
struct ResolvedCommandLine: Sendable {
    struct Value: Sendable, Equatable {
        var words: [String]
        var source: SettingSource
    }

    /// What ArgumentParser parses.
    var arguments: [String]
    /// The settings of the command being run, in the order of its help.
    var settings: [CommandSetting]
    /// The value of each setting that is not left at its default.
    var values: [String: Value]
    /// The configuration file read, if any.
    var configurationFile: String?

    /// Settings that `arguments` carries but the user did not type.
    var added: [(setting: CommandSetting, source: SettingSource)] {
        settings.compactMap { setting in
            guard let source = values[setting.name]?.source, source != .commandLine else { return nil }
            return (setting, source)
        }
    }

    /// Client commands read only where to find the node from the
    /// environment; their other flags belong to one invocation.
    private static let clientSettings: Set<String> = ["data", "url", "token"]

    /// Resolves `arguments` (without the program name) for the subcommand
    /// they name.
    ///
    /// - Throws: ``P2PDBError`` `.invalidInput` for an unreadable
    ///   configuration file, a key that is no setting, or a value of the
    ///   wrong kind.
    static func resolve(_ arguments: [String], environment: [String: String]) throws(P2PDBError) -> ResolvedCommandLine {
        var command: any ParsableCommand.Type = RootCommand.self
        var commandWords = 0
        while commandWords < arguments.count,
            let subcommand = command.configuration.subcommands.first(where: { $0._commandName == arguments[commandWords] })
        {
            command = subcommand
            commandWords += 1
        }
        let isServe = command == ServeCommand.self
        let settings = CommandSetting.all(of: command).filter { isServe || clientSettings.contains($0.name) }
        let typed = Array(arguments[commandWords...])
        var values = given(typed, settings: settings)

        var file: (path: String, settings: [String: [String]])?
        if isServe, let path = optionValue("config", in: typed) ?? environment["P2PDB_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            file = (path, try ConfigurationFile.read(path, settings: settings))
        }
        var added: [String] = []
        for setting in settings where values[setting.name] == nil {
            if let text = environment[setting.environmentName], !text.isEmpty {
                let words = try environmentWords(text, for: setting)
                values[setting.name] = Value(words: words, source: .environment(setting.environmentName))
                added += setting.arguments(words)
            } else if let file, let words = file.settings[setting.name] {
                values[setting.name] = Value(words: words, source: .file(file.path))
                added += setting.arguments(words)
            }
        }
        return ResolvedCommandLine(
            arguments: Array(arguments[..<commandWords]) + added + typed, settings: settings, values: values, configurationFile: file?.path)
    }

    /// The settings the user typed, with their values.
    private static func given(_ words: [String], settings: [CommandSetting]) -> [String: Value] {
        var values: [String: Value] = [:]
        var index = 0
        while index < words.count, words[index] != "--" {
            let word = words[index]
            index += 1
            guard word.hasPrefix("--") else { continue }
            let body = word.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            if let setting = settings.first(where: { $0.name == name }) {
                switch setting.kind {
                case .flag:
                    values[name] = Value(words: ["true"], source: .commandLine)
                case .option(let repeats):
                    var value: String?
                    if body.contains("=") {
                        value = String(body.drop { $0 != "=" }.dropFirst())
                    } else if index < words.count {
                        value = words[index]
                        index += 1
                    }
                    let earlier = repeats ? values[name]?.words ?? [] : []
                    values[name] = Value(words: earlier + (value.map { [$0] } ?? []), source: .commandLine)
                }
            } else if name.hasPrefix("no-"), let setting = settings.first(where: { $0.name == name.dropFirst(3) && $0.kind == .flag(invertible: true) }) {
                values[setting.name] = Value(words: ["false"], source: .commandLine)
            }
        }
        return values
    }

    /// The value of `--name VALUE` or `--name=VALUE` among `words`.
    private static func optionValue(_ name: String, in words: [String]) -> String? {
        var value: String?
        for (index, word) in words.enumerated() {
            if word == "--" { break }
            if word == "--\(name)", index + 1 < words.count { value = words[index + 1] }
            if word.hasPrefix("--\(name)=") { value = String(word.dropFirst(name.count + 3)) }
        }
        return value
    }

    /// An environment variable's words: a list is separated by commas or
    /// spaces, a flag is true or false.
    private static func environmentWords(_ text: String, for setting: CommandSetting) throws(P2PDBError) -> [String] {
        switch setting.kind {
        case .option(repeats: true):
            return text.split { $0 == "," || $0.isWhitespace }.map(String.init)
        case .option:
            return [text]
        case .flag:
            guard let value = CommandSetting.boolean(text) else {
                throw P2PDBError(.invalidInput, "\(setting.environmentName) must be true or false, not \(text)")
            }
            return [value ? "true" : "false"]
        }
    }
}

extension ResolvedCommandLine {
    struct ReportRow {
        var name: String
        /// A string, a list of strings, a boolean, or null when unset;
        /// secrets only as "(set)".
        var value: JSON
        var source: SettingSource
        var variable: String
    }

    /// Every setting with its value in effect, for `serve --print-config`.
    func report() -> [ReportRow] {
        settings.map { setting in
            let given = values[setting.name]
            let words = given?.words ?? setting.defaultValue.map { [$0] } ?? []
            var value: JSON
            switch setting.kind {
            case .flag: value = .bool(words.last == "true")
            case .option(repeats: true): value = .array(words.map(JSON.string))
            case .option: value = words.last.map(JSON.string) ?? .null
            }
            if setting.isSecret, value != .null { value = .string("(set)") }
            return ReportRow(name: setting.name, value: value, source: given?.source ?? .defaultValue, variable: setting.environmentName)
        }
    }
}

extension SettingSource {
    /// The source's kind, for JSON.
    var kind: String {
        switch self {
        case .commandLine: return "command_line"
        case .environment: return "environment"
        case .file: return "file"
        case .defaultValue: return "default"
        }
    }
}
