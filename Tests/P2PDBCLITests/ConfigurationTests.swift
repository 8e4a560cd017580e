import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

/// Settings from the command line, the environment (`P2PDB_<FLAG>`) and a
/// configuration file (`serve --config FILE`), and `serve --print-config`.
@Suite("configuration")
struct ConfigurationTests {
    /// Runs `p2pdb` with `environment` added to a clean one.
    private func p2pdb(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandOutput {
        let clean = ["PATH=/usr/bin:/bin", "HOME=/nonexistent"]
        return try ChildProcess.run(
            "/usr/bin/env", ["-i"] + clean + environment.sorted(by: <).map { "\($0)=\($1)" } + [p2pdbBinary.path] + arguments)
    }

    /// Each setting of `serve`, as `--experimental-dump-help` declares it:
    /// the test's own reading of the declaration, not the code under test.
    private func declaredSettings() throws -> [(name: String, isFlag: Bool, defaultValue: String?)] {
        let dump = try JSON.parse(try p2pdb(["serve", "--experimental-dump-help"]).stdout)
        let invocationFlags: Set<String> = ["help", "version", "config", "print-config", "json"]
        return (dump["command"]?["arguments"]?.arrayValue ?? []).compactMap { argument in
            guard let name = argument["preferredName"]?["name"]?.stringValue, !invocationFlags.contains(name),
                !name.hasPrefix("no-"), argument["kind"]?.stringValue != "positional"
            else { return nil }
            return (name, argument["kind"]?.stringValue == "flag", argument["defaultValue"]?.stringValue)
        }
    }

    private func printConfig(_ arguments: [String], environment: [String: String]) throws -> [String: (value: JSON, source: String)] {
        let output = try p2pdb(["serve", "--print-config", "--json"] + arguments, environment: environment)
        try #require(output.status == 0, "\(output.stderr)")
        var settings: [String: (JSON, String)] = [:]
        for row in try JSON.parse(output.stdout)["settings"]?.arrayValue ?? [] {
            guard let name = row["name"]?.stringValue, let value = row["value"], let source = row["source"]?.stringValue else { continue }
            settings[name] = (value, source)
        }
        return settings
    }

    /// Every flag of `serve` is a setting that the environment and the file
    /// can give, under the name derived from the flag.
    @Test func everyFlagHasAnEnvironmentVariableAndAFileKey() throws {
        let temp = try TemporaryDirectory()
        let declared = try declaredSettings()
        #expect(declared.count > 20)
        let shown = try printConfig(["--data", temp.path("node")], environment: [:])
        #expect(Set(shown.keys) == Set(declared.map(\.name)))
        for setting in declared where setting.name != "data" {
            #expect(shown[setting.name]?.source == "default", "\(setting.name)")
        }
        // One value that every option accepts, through each channel.
        let harmless: [String: (text: String, json: JSON)] = [
            "http": ("127.0.0.1:7171", .string("127.0.0.1:7171")), "max-connections": ("77", .number("77")),
            "idle-timeout": ("12.5", .number("12.5")), "log-level": ("debug", .string("debug")),
            "join": ("10.1.1.1:7071", .array([.string("10.1.1.1:7071")])), "fanout": ("3", .number("3")),
        ]
        for (name, value) in harmless {
            let variable = "P2PDB_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            let fromEnvironment = try printConfig(["--data", temp.path("node")], environment: [variable: value.text])
            #expect(fromEnvironment[name]?.source == "environment", "\(name)")
            let file = temp.path("\(name).json")
            try JSON.object([(name, value.json)]).text.write(toFile: file, atomically: true, encoding: .utf8)
            let fromFile = try printConfig(["--data", temp.path("node"), "--config", file], environment: [:])
            #expect(fromFile[name]?.source == "file", "\(name)")
            #expect(fromFile[name]?.value == fromEnvironment[name]?.value, "\(name)")
        }
    }

    /// Command line over environment over file over default, per setting,
    /// for random choices of where each setting is given.
    @Test(arguments: 0..<12)
    func theCommandLineWinsOverTheEnvironmentWhichWinsOverTheFile(seed: UInt64) throws {
        var random = SeededGenerator(seed: 1000 + seed)
        let temp = try TemporaryDirectory()
        typealias Draw = (inout SeededGenerator) -> [String]
        let pool: [(name: String, draw: Draw)] = [
            ("http", { ["127.0.0.1:\(Int.random(in: 1024...65000, using: &$0))"] }),
            ("max-connections", { [String(Int.random(in: 1...5000, using: &$0))] }),
            ("statement-timeout", { [String(Double(Int.random(in: 1...999, using: &$0)) / 4)] }),
            ("log-level", { [["trace", "debug", "info", "notice", "warning", "error", "critical"].randomElement(using: &$0) ?? "info"] }),
            ("join", { random in (0..<Int.random(in: 1...3, using: &random)).map { _ in "10.0.0.\(Int.random(in: 1...254, using: &random)):7071" } }),
            ("mdns", { [Bool.random(using: &$0) ? "true" : "false"] }),
            ("fanout", { [String(Int.random(in: 1...9, using: &$0))] }),
            ("api-token", { random in [String((0..<24).map { _ in "abcdefghjkmnpqrstuvwxyz23456789".randomElement(using: &random) ?? "a" })] }),
        ]
        var commandLine = ["--data", temp.path("node"), "--listen", "127.0.0.1:0"]
        var environment: [String: String] = [:]
        var file: [(String, JSON)] = []
        var expected: [String: (words: [String], source: String)] = [:]
        for setting in pool {
            let variable = "P2PDB_" + setting.name.uppercased().replacingOccurrences(of: "-", with: "_")
            let levels = (Bool.random(using: &random), Bool.random(using: &random), Bool.random(using: &random))
            let (typed, exported, filed) = (setting.draw(&random), setting.draw(&random), setting.draw(&random))
            if levels.2 {
                let json: JSON
                if setting.name == "mdns" {
                    json = .bool(filed == ["true"])
                } else if setting.name == "join" {
                    json = .array(filed.map(JSON.string))
                } else {
                    json = Double(filed[0]) != nil && Bool.random(using: &random) ? .number(filed[0]) : .string(filed[0])
                }
                file.append((setting.name, json))
                expected[setting.name] = (filed, "file")
            }
            if levels.1 {
                environment[variable] = exported.joined(separator: ",")
                expected[setting.name] = (exported, "environment")
            }
            if levels.0 {
                if setting.name == "mdns" {
                    commandLine.append(typed == ["true"] ? "--mdns" : "--no-mdns")
                } else {
                    commandLine += typed.flatMap { ["--\(setting.name)", $0] }
                }
                expected[setting.name] = (typed, "command_line")
            }
        }
        let path = temp.path("p2pdb.json")
        try JSON.object(file).text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        environment["P2PDB_CONFIG"] = path
        let shown = try printConfig(commandLine, environment: environment)
        for setting in pool {
            let row = try #require(shown[setting.name])
            guard let (words, source) = expected[setting.name] else {
                #expect(row.source == "default", "\(setting.name)")
                continue
            }
            #expect(row.source == source, "\(setting.name): seed \(seed)")
            switch setting.name {
            case "api-token": #expect(row.value == .string("(set)"))
            case "mdns": #expect(row.value == .bool(words == ["true"]), "seed \(seed)")
            case "join": #expect(row.value == .array(words.map(JSON.string)), "seed \(seed)")
            default: #expect(row.value == .string(words[0]), "\(setting.name): seed \(seed)")
            }
        }
        // No secret reaches the output.
        let text = try p2pdb(["serve", "--print-config"] + commandLine, environment: environment)
        for secret in [environment["P2PDB_API_TOKEN"], expected["api-token"]?.words.first].compactMap({ $0 }) {
            #expect(!text.stdout.contains(secret))
        }
    }

    /// A wrong file, key or value stops `serve` before anything is written,
    /// and says which setting, from where.
    @Test func badSettingsAreRefusedWithTheirSource() throws {
        let temp = try TemporaryDirectory()
        let node = temp.path("node")
        let file = temp.path("p2pdb.json")
        for (document, expected) in [
            ("[1, 2]", "must hold one JSON object of settings"),
            ("{\"htp\": \"127.0.0.1:1\"}", "has the key \"htp\", which is no setting"),
            ("{\"max-connections\": true}", "\"max-connections\" must be a string or a number"),
            ("{\"mdns\": \"yes\"}", "\"mdns\" must be true or false"),
            ("{\"join\": [1, {}]}", "\"join\" must be a list of strings"),
            ("{\"http\": ", "is not JSON"),
            ("{\"max-connections\": \"many\"}", "--max-connections from file \(file)"),
        ] {
            try document.write(toFile: file, atomically: true, encoding: .utf8)
            let output = try p2pdb(["serve", "--data", node, "--config", file])
            #expect(output.status == 64, "\(document): \(output.stderr)")
            #expect(output.stderr.contains(expected), "\(document): \(output.stderr)")
            #expect(!FileManager.default.fileExists(atPath: node), "\(document)")
        }
        for (variable, value, expected) in [
            ("P2PDB_MAX_CONNECTIONS", "abc", "--max-connections from environment P2PDB_MAX_CONNECTIONS"),
            ("P2PDB_MDNS", "maybe", "P2PDB_MDNS must be true or false, not maybe"),
            ("P2PDB_LOG_LEVEL", "loud", "--log-level must be one of"),
            ("P2PDB_CONFIG", temp.path("missing.json"), "cannot read the configuration file"),
        ] {
            let output = try p2pdb(["serve", "--data", node], environment: [variable: value])
            #expect(output.status != 0, "\(variable)")
            #expect(output.stderr.contains(expected), "\(variable): \(output.stderr)")
            #expect(!FileManager.default.fileExists(atPath: node), "\(variable)")
        }
        // A file that holds the API token is the user's alone.
        try "{\"api-token\": \"a-secret-token-0123456789\"}".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let exposed = try p2pdb(["serve", "--data", node, "--config", file, "--print-config"])
        #expect(exposed.status == 64 && exposed.stderr.contains("chmod 600 \(file)"), "\(exposed.stderr)")
        #expect(!exposed.stderr.contains("a-secret-token"))
    }

    /// A node started from a configuration file and the environment alone,
    /// with no flag, serves as they say; client commands find it through
    /// P2PDB_DATA.
    @Test func aNodeRunsFromItsConfigurationFile() async throws {
        let temp = try TemporaryDirectory()
        let node = temp.path("node")
        let token = "configured-token-0123456789"
        let file = temp.path("register.json")
        try JSON.object([
            ("http", .string("127.0.0.1:0")), ("api-token", .string(token)), ("log-level", .string("warning")),
            ("read-connections", .number("2")),
        ]).text.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let environment = ["P2PDB_DATA": node, "P2PDB_CONFIG": file]
        let serve = try ChildProcess(
            "/usr/bin/env", ["-i", "PATH=/usr/bin:/bin"] + environment.sorted(by: <).map { "\($0)=\($1)" } + [p2pdbBinary.path, "serve"],
            stderr: .null)
        defer {
            serve.signal(SIGKILL)
            serve.waitUntilExit()
        }
        var url: String?
        let deadline = Date().addingTimeInterval(30)
        while url == nil, Date() < deadline, serve.isRunning {
            url = FileManager.default.contents(atPath: node + "/serve.json").flatMap { try? JSON.parse(Array($0)) }?["url"]?.stringValue
            if url == nil { usleep(50_000) }
        }
        let served = try #require(url)
        #expect(try await httpRequest("GET", served + "/v1/status", token: token).0 == 200)
        let stored = try String(contentsOfFile: node + "/api.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await httpRequest("GET", served + "/v1/status", token: stored).0 == 401)
        // `sql` and `status` take the directory from P2PDB_DATA and go through the node.
        #expect(try p2pdb(["sql", "CREATE TABLE t (id INTEGER PRIMARY KEY)"], environment: ["P2PDB_DATA": node]).status == 0)
        let status = try p2pdb(["status", "--json"], environment: ["P2PDB_DATA": node])
        #expect(try JSON.parse(status.stdout)["entries"] == .number("1"), "\(status.stderr)")
    }
}
