import ArgumentParser
import Foundation
import P2PDB

/// What the interactive shell needs of a node, opened in this process or
/// reached over HTTP.
struct ShellNode: Sendable {
    let name: String
    let execute: @Sendable (String, [Value]) async throws -> TransactionResult
    let status: @Sendable () async throws -> JSON
    /// The newest entries, newest first, in the audit form of `GET /v1/entries`.
    let recentEntries: @Sendable (Int) async throws -> [JSON]
}

/// `p2pdb sql` without SQL: reads statements and dot-commands until the
/// end of input or `.quit`, running each statement as it completes.
///
/// `BEGIN` starts a transaction: the statements that follow are kept and
/// sent together at `COMMIT` (one transaction, one entry), or dropped at
/// `ROLLBACK`. Dot-commands (`.help` lists them) are read at the start of
/// a statement, as in `sqlite3`.
struct Shell {
    let node: ShellNode
    var mode: OutputMode
    var timer = false
    private let interactive = isatty(STDIN_FILENO) != 0
    private let editor: LineEditor
    private var transaction: [String]?
    /// Files being `.read` (their lines and the next one), innermost last,
    /// read before standard input.
    private var files: [(lines: [Substring], next: Int)] = []

    init(node: ShellNode, mode: OutputMode) {
        self.node = node
        self.mode = mode
        editor = LineEditor(terminal: interactive && isatty(STDOUT_FILENO) != 0, historyPath: LineEditor.defaultHistoryPath)
        if interactive { ShellInterrupt.install() }
    }

    static let help = """
        .help                 this list
        .tables               the replicated tables
        .schema [TABLE]       the CREATE statements of every table, or of TABLE, with their indexes
        .indexes [TABLE]      the indexes
        .peers                the node's peers: address, contact, round trip, last error
        .status               the node: ID, entries, state hash, version vector, peers
        .log [N]              the newest N entries (10) with their row changes
        .mode [MODE]          how rows print: table, json, csv or line (without MODE: the current one)
        .read FILE            run the statements and dot-commands of FILE
        .timer on|off         print how long each statement took
        .quit                 leave the shell (also .exit, or Ctrl-D)
        """

    mutating func run() async throws {
        if interactive {
            print("p2pdb \(node.name) — end statements with ';', .help for commands, Ctrl-C cancels, Ctrl-D quits")
        }
        var buffer = ""
        reading: while true {
            let prompt = buffer.isEmpty ? (transaction == nil ? "p2pdb> " : "p2pdb*> ") : "   ...> "
            let line: String
            switch nextLine(prompt: prompt) {
            case .line(let text):
                line = text
            case .interrupted:
                // Drops the statement being typed; an open transaction stays open.
                buffer = ""
                continue
            case .end:
                break reading
            }
            // A dot-command only starts a statement; blank lines before it do not count.
            if buffer.allSatisfy(\.isWhitespace), line.trimmingCharacters(in: .whitespaces).hasPrefix(".") {
                buffer = ""
                guard try await dotCommand(line.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
                continue
            }
            buffer += line
            guard SQLCompleteness.isComplete(buffer) else { continue }
            let input = buffer
            buffer = ""
            try await statement(input)
        }
        if !buffer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            if transaction != nil { transaction?.append(buffer) } else { try await run(buffer, all: false) }
        }
        if let statements = transaction, !statements.isEmpty {
            printError("the input ended inside a transaction: its \(statements.count) statement(s) were not committed")
            throw ExitCode(1)
        }
    }

    private mutating func nextLine(prompt: String) -> LineEditor.Input {
        while let file = files.last {
            guard file.next < file.lines.count else {
                files.removeLast()
                continue
            }
            files[files.count - 1].next += 1
            return .line(String(file.lines[file.next]) + "\n")
        }
        if interactive && !editor.isEditing {
            print(prompt, terminator: "")
            fflush(nil)
        }
        return editor.read(prompt: prompt)
    }

    private mutating func statement(_ input: String) async throws {
        switch (ShellInput.control(input), transaction) {
        case (.begin, nil):
            transaction = []
            if interactive { print("transaction started: statements are sent together at COMMIT, dropped at ROLLBACK") }
        case (.begin, _?):
            try failed("a transaction is already open: COMMIT or ROLLBACK it first")
        case (.commit, let statements?):
            transaction = nil
            if !statements.isEmpty { try await run(statements.joined(separator: "\n"), all: true) }
        case (.rollback, _?):
            transaction = nil
            if interactive { print("rolled back: nothing was sent") }
        case (.commit, nil), (.rollback, nil):
            try failed("no transaction is open")
        case (nil, var statements?):
            statements.append(input)
            transaction = statements
        case (nil, nil):
            try await run(input, all: false)
        }
    }

    /// An error: the shell goes on; a script stops with exit status 1.
    private func failed(_ message: String) throws {
        printError(message)
        if !interactive { throw ExitCode(1) }
    }

    private func run(_ sql: String, all: Bool) async throws {
        let started = ContinuousClock.now
        let execute = node.execute
        do {
            show(try await ShellInterrupt.interruptible { try await execute(sql, []) }, all: all)
            if timer { print("Run Time: real \(Self.seconds(ContinuousClock.now - started)) s") }
            // Each result is an acknowledgement: do not let it sit in a buffer.
            fflush(nil)
        } catch let error as P2PDBError where error.kind == .cancelled && interactive {
            printError("interrupted: \(error.message)")
        } catch let error as P2PDBError {
            try failed(error.message)
        }
    }

    private func show(_ result: TransactionResult, all: Bool) {
        let queries = all ? result.results.filter(\.isQuery) : result.lastQuery.map { [$0] } ?? []
        if mode == .json {
            if all {
                for query in queries { print(mode.render(query)) }
                printJSON(.object([("changes", .integer(result.changes)), ("entry", result.entry.map { .string($0.hex) } ?? .null)]))
            } else {
                printJSON(JSONRendering.transaction(result))
            }
            return
        }
        for query in queries { print(mode.render(query)) }
        if all || result.entry != nil || result.lastQuery == nil {
            print("changes: \(result.changes), entry: \(result.entry?.hex ?? "none")")
        }
    }

    /// Runs one dot-command; false for `.quit`.
    private mutating func dotCommand(_ line: String) async throws -> Bool {
        let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
        let argument = words.dropFirst().first
        do {
            switch words[0] {
            case ".quit", ".exit":
                return false
            case ".help":
                print(Self.help)
            case ".tables":
                let rows = try await rows(
                    "SELECT name FROM sqlite_schema WHERE type = 'table' AND \(Self.visible) ORDER BY name COLLATE NOCASE", [])
                print(rows.compactMap { $0.first.map(TablePrinter.cell) }.joined(separator: "\n"))
            case ".schema":
                let rows = try await rows(
                    "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND \(Self.visible) AND (?1 IS NULL OR tbl_name = ?1 COLLATE NOCASE) ORDER BY tbl_name COLLATE NOCASE, type DESC, name",
                    [argument.map(Value.text) ?? .null])
                print(rows.compactMap { $0.first.map { TablePrinter.cell($0) + ";" } }.joined(separator: "\n"))
            case ".indexes", ".indices":
                let rows = try await rows(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND \(Self.visible) AND (?1 IS NULL OR tbl_name = ?1 COLLATE NOCASE) ORDER BY name",
                    [argument.map(Value.text) ?? .null])
                print(rows.compactMap { $0.first.map(TablePrinter.cell) }.joined(separator: "\n"))
            case ".status":
                print(StatusCommand.text(try await node.status()))
            case ".peers":
                let peers = try await node.status()["peers"]?.arrayValue ?? []
                print(peers.isEmpty ? "no peers (the node does not replicate, or found none yet)" : peers.map(StatusCommand.peerLine).joined(separator: "\n"))
            case ".log":
                guard let count = argument.map({ Int($0) }) ?? 10, count > 0 else { return try usage(".log [N]: N is a positive number") }
                for entry in try await node.recentEntries(count) { print(LogCommand.text(entry, changes: true)) }
            case ".mode":
                guard let argument else {
                    print(mode.rawValue)
                    break
                }
                guard let chosen = OutputMode(rawValue: argument) else {
                    return try usage(".mode: \(argument) is not one of \(OutputMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = chosen
            case ".timer":
                guard let argument, ["on", "off"].contains(argument) else { return try usage(".timer on|off") }
                timer = argument == "on"
            case ".read":
                guard let argument else { return try usage(".read FILE") }
                guard let text = try? String(contentsOfFile: argument, encoding: .utf8) else {
                    return try usage(".read: cannot read \(argument)")
                }
                files.append((text.split(separator: "\n", omittingEmptySubsequences: false), 0))
            default:
                return try usage("unknown command \(words[0]); .help lists the commands")
            }
        } catch let error as P2PDBError {
            try failed(error.message)
        }
        fflush(nil)
        return true
    }

    private func usage(_ message: String) throws -> Bool {
        try failed(message)
        return true
    }

    /// Schema objects of the application, not P2PDB's or SQLite's own.
    private static let visible = #"name NOT LIKE '\_p2pdb%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'"#

    private func rows(_ sql: String, _ parameters: [Value]) async throws -> [[Value]] {
        try await node.execute(sql, parameters).lastQuery?.rows ?? []
    }

    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.3f", Double(seconds) + Double(attoseconds) / 1e18)
    }
}
