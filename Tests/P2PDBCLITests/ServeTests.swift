import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `p2pdb serve` process on a free loopback port, killed when the test ends.
final class ServeProcess {
    let process: ChildProcess
    let directory: String
    let url: String

    /// - Parameter namespace: a network namespace to run in (`ip netns exec`).
    /// - Parameter environment: variables set for the process besides this one's.
    /// - Parameter stderr: where its log goes (warnings and above).
    init(
        data directory: String, arguments: [String] = [], namespace: String? = nil, http: String = "127.0.0.1:0",
        environment: [String: String] = [:], stderr: ChildProcess.Stream = .null
    ) throws {
        self.directory = directory
        try? FileManager.default.removeItem(atPath: directory + "/serve.json")
        let serve = ["serve", "--data", directory, "--http", http, "--log-level", "warning"] + arguments
        if let namespace {
            process = try ChildProcess("/usr/sbin/ip", ["netns", "exec", namespace, p2pdbBinary.path] + serve, stderr: stderr)
        } else if !environment.isEmpty {
            process = try ChildProcess(
                "/usr/bin/env", environment.sorted(by: <).map { "\($0)=\($1)" } + [p2pdbBinary.path] + serve, stderr: stderr)
        } else {
            process = try ChildProcess(p2pdbBinary.path, serve, stderr: stderr)
        }
        let deadline = Date().addingTimeInterval(20)
        var found: String?
        while found == nil && Date() < deadline && process.isRunning {
            if let data = FileManager.default.contents(atPath: directory + "/serve.json"),
                let json = try? JSON.parse(Array(data)), let url = json["url"]?.stringValue
            {
                found = url
            } else {
                usleep(50_000)
            }
        }
        guard let found else {
            process.signal(SIGKILL)
            process.waitUntilExit()
            throw P2PDBError(.unavailable, "p2pdb serve did not start")
        }
        url = found
    }

    /// Sends a signal and waits for the process to exit.
    func stop(_ signal: Int32 = SIGTERM) {
        process.signal(signal)
        process.waitUntilExit()
    }

    deinit { stop(SIGKILL) }
}

/// One HTTP request, blocking.
func httpRequest(_ method: String, _ url: String, token: String, body: String? = nil) async throws -> (Int, JSON?) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
    if let body { request.httpBody = Data(body.utf8) }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSON.parse(Array(data)))
}

/// Runs `p2pdb serve` that is meant to stop by itself, killing it if it
/// still runs after a minute: its exit status and standard error.
func serveUntilItStops(_ temp: TemporaryDirectory, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let log = temp.path("serve-\(UUID().uuidString).stderr")
    try Data().write(to: URL(fileURLWithPath: log))
    let serve = try ChildProcess(p2pdbBinary.path, ["serve"] + arguments, stderr: .file(log))
    let deadline = Date().addingTimeInterval(60)
    while serve.isRunning && Date() < deadline { usleep(50_000) }
    if serve.isRunning { serve.signal(SIGKILL) }
    serve.waitUntilExit()
    return (serve.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
}

@Suite("p2pdb serve", .serialized)
struct ServeTests {
    /// A token on the command line shows in `ps`; a file or the environment
    /// keeps it from other users.
    @Test func theAPITokenCanComeFromAFileOrTheEnvironment() async throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let fileToken = "from-a-file-0123456789"
        try (fileToken + "\n").write(toFile: temp.path("token"), atomically: true, encoding: .utf8)
        let fromFile = try ServeProcess(data: dir, arguments: ["--api-token-file", temp.path("token")])
        #expect(try await httpRequest("GET", fromFile.url + "/v1/status", token: fileToken).0 == 200)
        #expect(try await httpRequest("GET", fromFile.url + "/v1/status", token: try p2pdb("token", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)).0 == 401)
        fromFile.stop()

        let environmentToken = "from-the-environment-0123456789"
        let fromEnvironment = try ServeProcess(data: dir, environment: ["P2PDB_API_TOKEN": environmentToken])
        #expect(try await httpRequest("GET", fromEnvironment.url + "/v1/status", token: environmentToken).0 == 200)
        #expect(try await httpRequest("GET", fromEnvironment.url + "/v1/status", token: fileToken).0 == 401)
        fromEnvironment.stop()

        let missing = try p2pdb("serve", "--data", dir, "--http", "127.0.0.1:0", "--api-token-file", temp.path("missing"))
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read the API token file"))
    }

    @Test func commandsReachARunningNodeAndItStopsGracefully() async throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let server = try ServeProcess(data: dir)
        defer { server.stop(SIGKILL) }
        let token = try p2pdb("token", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count == 64)

        let create = try p2pdb("sql", "--url", server.url, "--token", token, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        #expect(create.status == 0, "\(create.stderr)")
        // The directory is held by the server: --data goes through it.
        let insert = try p2pdb("sql", "--data", dir, "--json", "INSERT INTO t VALUES (1, 'one')")
        #expect(insert.status == 0, "\(insert.stderr)")
        #expect(try JSON.parse(insert.stdout)["changes"] == .number("1"))
        let select = try p2pdb("sql", "--url", server.url, "--token", token, "--json", "SELECT v FROM t")
        #expect(try JSON.parse(select.stdout)["rows"] == .array([.array([.string("one")])]))
        let status = try p2pdb("status", "--url", server.url, "--token", token, "--json")
        #expect(try JSON.parse(status.stdout)["entries"] == .number("2"))
        #expect(try JSON.parse(status.stdout)["peers"] == .array([]))

        let wrongToken = try p2pdb("sql", "--url", server.url, "--token", "wrong", "SELECT 1")
        #expect(wrongToken.status != 0)
        #expect(wrongToken.stderr.contains("bearer token"))
        let badSQL = try p2pdb("sql", "--data", dir, "SELEC 1")
        #expect(badSQL.status == 1)
        #expect(badSQL.stderr.contains("syntax error"))

        server.stop(SIGTERM)
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/serve.json"))
        let after = try p2pdb("sql", "--data", dir, "--json", "SELECT count(*) FROM t")
        #expect(try JSON.parse(after.stdout)["rows"] == .array([.array([.number("1")])]))
        #expect(try p2pdb("verify", "--data", dir).status == 0)
    }

    /// A peer port another process holds stops the node with one line that
    /// says so, before the HTTP API starts, instead of a node that runs
    /// without a peer endpoint.
    @Test func aTakenPeerPortStopsTheNodeWithAnError() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        let holder = try NonPeerServer(.silent)
        defer { holder.stop() }
        let (status, errors) = try serveUntilItStops(temp, ["--data", dir, "--http", "127.0.0.1:0", "--listen", "127.0.0.1:\(holder.port)"])
        #expect(status == 1)
        let expected =
            "p2pdb: cannot listen for peers on 127.0.0.1:\(holder.port): address already in use; choose another --listen port or stop the process using it"
        #expect(errors.split(separator: "\n").filter { $0.hasPrefix("p2pdb:") } == [Substring(expected)], "\(errors)")
        #expect(!errors.contains("HTTP API listening"), "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/serve.json"))
    }

    @Test func aTakenHTTPPortStopsTheNodeWithAnError() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        let holder = try NonPeerServer(.silent)
        defer { holder.stop() }
        let (status, errors) = try serveUntilItStops(temp, ["--data", dir, "--http", "127.0.0.1:\(holder.port)"])
        #expect(status == 1)
        let expected =
            "p2pdb: cannot listen for HTTP requests on 127.0.0.1:\(holder.port): address already in use; choose another --http port or stop the process using it"
        #expect(errors.split(separator: "\n").filter { $0.hasPrefix("p2pdb:") } == [Substring(expected)], "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/serve.json"))
    }

    /// `--api-tokens FILE` (or P2PDB_API_TOKENS) adds tokens with roles;
    /// a bad file stops `serve` before it starts, naming the file and line.
    @Test func tokensWithRolesComeFromAFile() async throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let file = temp.path("tokens")
        let reader = "reporting-dashboard-0123456789"
        for (text, mode, expected) in [
            ("# reporting\nread-only \(reader)\nreader \(reader)-2\n", 0o600, "\(file), line 3: the line must start with a role"),
            ("read-only short\n", 0o600, "\(file), line 1: the token must be at least 16 characters"),
            ("read-only \(reader)\nadmin \(reader)\n", 0o600, "\(file), line 2: the same token as line 1"),
            ("read-only \(reader)\n", 0o644, "chmod 600 \(file)"),
        ] as [(String, mode_t, String)] {
            try text.write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, mode)
            let (status, errors) = try serveUntilItStops(temp, ["--data", dir, "--http", "127.0.0.1:0", "--api-tokens", file])
            #expect(status == 1, "\(text)")
            #expect(errors.contains(expected), "\(errors)")
            #expect(!errors.contains(reader), "\(errors)")
        }

        try "# reporting\nread-only \(reader)\n".write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        let server = try ServeProcess(data: dir, environment: ["P2PDB_API_TOKENS": file])
        defer { server.stop(SIGKILL) }
        let admin = try p2pdb("token", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try p2pdb("sql", "--url", server.url, "--token", admin, "CREATE TABLE t (id INTEGER PRIMARY KEY)").status == 0)
        #expect(try await httpRequest("GET", server.url + "/v1/status", token: reader).0 == 200)
        let (selected, rows) = try await httpRequest("POST", server.url + "/v1/sql", token: reader, body: #"{"sql": "SELECT count(*) FROM t"}"#)
        #expect(selected == 200)
        #expect(rows?["rows"] == .array([.array([.number("0")])]))
        let (refused, error) = try await httpRequest("POST", server.url + "/v1/sql", token: reader, body: #"{"sql": "INSERT INTO t VALUES (1)"}"#)
        #expect(refused == 403)
        #expect(error?["error"]?["code"]?.stringValue == "forbidden")
        let cli = try p2pdb("sql", "--url", server.url, "--token", reader, "INSERT INTO t VALUES (1)")
        #expect(cli.status == 1 && cli.stderr.contains("this token is read-only"), "\(cli.stderr)")
        #expect(try await httpRequest("GET", server.url + "/v1/status", token: reader).1?["entries"] == .number("1"))
    }

    @Test func dataGoesThroughANodeServingWithItsOwnToken() async throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let token = "a-token-given-on-the-command-line"
        let server = try ServeProcess(data: dir, arguments: ["--api-token", token])
        defer { server.stop(SIGKILL) }
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/serve.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let create = try p2pdb("sql", "--data", dir, "--json", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
        #expect(create.status == 0, "\(create.stderr)")
        let stored = try p2pdb("token", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await httpRequest("GET", server.url + "/v1/status", token: stored).0 == 401)
        let (status, json) = try await httpRequest("GET", server.url + "/v1/status", token: token)
        #expect(status == 200)
        #expect(json?["entries"] == .number("1"))
    }

    @Test func bundlesSyncARunningNodeAndItStopsOnSIGINT() async throws {
        let temp = try TemporaryDirectory()
        let running = temp.path("register-1")
        let offline = temp.path("register-2")
        let server = try ServeProcess(data: running)
        defer { server.stop(SIGKILL) }
        #expect(try p2pdb("sql", "--data", running, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").status == 0)
        #expect(try p2pdb("sql", "--data", running, "INSERT INTO t VALUES (1, 'from the running node')").status == 0)
        #expect(try p2pdb("init", "--data", offline).status == 0)

        // Out of the running node, into the offline one, and back.
        let exported = try p2pdb("export", "--data", running, "--out", temp.path("a.bundle"))
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stdout.contains("exported 2 entries"))
        #expect(try p2pdb("import", "--data", offline, temp.path("a.bundle")).status == 0)
        #expect(try p2pdb("sql", "--data", offline, "INSERT INTO t VALUES (2, 'from the offline node')").status == 0)
        let offlineStatus = try JSON.parse(try p2pdb("status", "--data", offline, "--json").stdout)
        let runningVector = try JSON.parse(try p2pdb("status", "--data", running, "--json").stdout)["version_vector"]?.text ?? "{}"
        #expect(try p2pdb("export", "--data", offline, "--out", temp.path("b.bundle"), "--since", runningVector).stdout.contains("exported 1 entries"))
        let imported = try p2pdb("import", "--data", running, temp.path("b.bundle"))
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 1 entries"))
        let again = try p2pdb("import", "--url", server.url, "--token", try p2pdb("token", "--data", running).stdout.trimmingCharacters(in: .whitespacesAndNewlines), temp.path("b.bundle"))
        #expect(again.stdout.contains("imported 0 entries (1 already held"))
        let runningStatus = try JSON.parse(try p2pdb("status", "--data", running, "--json").stdout)
        #expect(runningStatus["state_hash"] == offlineStatus["state_hash"])
        #expect(try p2pdb("sql", "--data", running, "--json", "SELECT count(*) FROM t").stdout.contains("[[2]]"))

        // A damaged bundle changes nothing on the running node.
        var damaged = try #require(FileManager.default.contents(atPath: temp.path("b.bundle")))
        damaged[damaged.count / 2] ^= 0x40
        try damaged.write(to: URL(fileURLWithPath: temp.path("bad.bundle")))
        let refused = try p2pdb("import", "--data", running, temp.path("bad.bundle"))
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(try JSON.parse(try p2pdb("status", "--data", running, "--json").stdout)["entries"] == .number("3"))

        // Commands that open the directory themselves say which go through the node.
        let initAgain = try p2pdb("resume-writes", "--data", running)
        #expect(initAgain.status == 3)
        #expect(initAgain.stderr.contains("log, verify, check, export, import, backup and the network commands go through a running node"))

        // The live audit: the log with its changes, and verify, through the node.
        let log = try p2pdb("log", "--data", running, "--changes")
        #expect(log.status == 0, "\(log.stderr)")
        let audit = try JSON.parse(try p2pdb("log", "--data", running, "--changes", "--json").stdout)
        #expect(audit.arrayValue?.count == 3)
        let changed = (audit.arrayValue ?? []).flatMap { $0["changes"]?.arrayValue ?? [] }
        for change in changed {
            let key = change["key"]?.text ?? "?"
            #expect(log.stdout.contains("\(change["op"]?.stringValue ?? "?") \(change["table"]?.stringValue ?? "?") (id=\(key.filter(\.isNumber)))"), "\(log.stdout)")
        }
        #expect(!changed.isEmpty)
        #expect(log.stdout.contains("v='from the running node'") && log.stdout.contains("create_table t"), "\(log.stdout)")
        let verified = try JSON.parse(try p2pdb("verify", "--data", running, "--json").stdout)
        #expect(verified["ok"] == .bool(true) && verified["entries"] == .number("3"), "\(verified)")

        server.stop(SIGINT)
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
        #expect(try p2pdb("verify", "--data", running).status == 0)
        let converged = try JSON.parse(try p2pdb("status", "--data", running, "--json").stdout)["state_hash"]
        let offlineAfter = try JSON.parse(try p2pdb("status", "--data", offline, "--json").stdout)["state_hash"]
        #expect(converged == offlineAfter)
    }

    @Test func acknowledgedHTTPWritesSurviveKill9() async throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        let server = try ServeProcess(data: dir)
        defer { server.stop(SIGKILL) }
        let token = try p2pdb("token", "--data", dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let url = server.url
        let pid = server.process.processIdentifier
        _ = try await httpRequest("POST", url + "/v1/sql", token: token, body: #"{"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY)"}"#)

        let acknowledged = await withTaskGroup(of: [Int].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var ids: [Int] = []
                    for n in 0..<1000 {
                        let id = writer * 10_000 + n
                        guard let (status, _) = try? await httpRequest(
                            "POST", url + "/v1/sql", token: token, body: #"{"sql": "INSERT INTO t VALUES (\#(id))"}"#),
                            status == 200
                        else { break }
                        ids.append(id)
                    }
                    return ids
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(700))
                kill(pid, SIGKILL)
                return []
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        server.process.waitUntilExit()
        #expect(acknowledged.count > 0)
        #expect(server.process.terminationReason == .uncaughtSignal)

        let rows = try JSON.parse(try p2pdb("sql", "--data", dir, "--json", "SELECT id FROM t").stdout)
        guard case .array(let items)? = rows["rows"] else { Issue.record("no rows"); return }
        let stored = Set(items.compactMap { row -> Int? in
            guard case .array(let cells) = row, case .number(let text) = cells[0] else { return nil }
            return Int(text)
        })
        #expect(Set(acknowledged).isSubset(of: stored))
        #expect(try p2pdb("verify", "--data", dir).status == 0)
    }
}
