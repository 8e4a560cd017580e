import ArgumentParser
import Foundation
import P2PDB

struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run SQL on the local replica (or an interactive shell when no SQL is given).",
        discussion: """
            All statements of one invocation run as one transaction. Parameters bind to `?` \
            placeholders in order; a --param value that is a JSON scalar keeps its type \
            (42, 1.5, null, "42", {"base64": "..."}), anything else is text.
            """)

    @OptionGroup var target: TargetOptions

    @Argument(help: "SQL to run. Omit it to read statements from standard input.")
    var sql: String?

    @Option(name: .customLong("param"), help: "A parameter value; repeat for several.")
    var parameters: [String] = []

    @Flag(help: "Print results as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let values = try parameters.map(parseParameter)
            switch try target.open() {
            case .local(let node):
                try await run(name: node.nodeID.short, values) { try await node.execute($0, $1) }
                try await node.close()
            case .remote(let remote):
                try await run(name: remote.baseURL.absoluteString, values) { try await remote.execute($0, $1) }
            }
        }
    }

    private func run(
        name: String, _ values: [Value], execute: (String, [Value]) async throws -> TransactionResult
    ) async throws {
        if let sql {
            printResult(try await execute(sql, values))
        } else {
            try await shell(name: name) { try await execute($0, []) }
        }
    }

    private func printResult(_ result: TransactionResult) {
        if json {
            printJSON(JSONRendering.transaction(result))
            return
        }
        if let query = result.lastQuery { print(TablePrinter.render(query)) }
        if result.entry != nil || result.lastQuery == nil {
            print("changes: \(result.changes), entry: \(result.entry?.hex ?? "none")")
        }
    }

    /// Reads statements until end of input, running each as it completes.
    ///
    /// `BEGIN` starts a transaction: the statements that follow are kept
    /// and sent together at `COMMIT` (one transaction, one entry), or
    /// dropped at `ROLLBACK`. Their results print at `COMMIT`.
    private func shell(name: String, execute: (String) async throws -> TransactionResult) async throws {
        let interactive = isatty(STDIN_FILENO) != 0
        var buffer = ""
        var transaction: [String]?
        if interactive { print("p2pdb \(name) — end statements with ';', Ctrl-D quits") }
        func run(_ sql: String, all: Bool) async throws {
            do {
                let result = try await execute(sql)
                if all && !json {
                    for query in result.results where query.isQuery { print(TablePrinter.render(query)) }
                    print("changes: \(result.changes), entry: \(result.entry?.hex ?? "none")")
                } else {
                    printResult(result)
                }
                // Each result is an acknowledgement: do not let it sit in a buffer.
                fflush(nil)
            } catch let error as P2PDBError {
                printError(error.message)
                if !interactive { throw ExitCode(1) }
            }
        }
        while true {
            if interactive {
                print(buffer.isEmpty ? (transaction == nil ? "p2pdb> " : "p2pdb*> ") : "   ...> ", terminator: "")
                fflush(nil)
            }
            guard let line = readLine(strippingNewline: false) else { break }
            buffer += line
            guard SQLCompleteness.isComplete(buffer) else { continue }
            let input = buffer
            buffer = ""
            switch (ShellInput.control(input), transaction) {
            case (.begin, nil):
                transaction = []
                if interactive { print("transaction started: statements are sent together at COMMIT, dropped at ROLLBACK") }
            case (.begin, _?):
                printError("a transaction is already open: COMMIT or ROLLBACK it first")
                if !interactive { throw ExitCode(1) }
            case (.commit, let statements?):
                transaction = nil
                if !statements.isEmpty { try await run(statements.joined(separator: "\n"), all: true) }
            case (.rollback, _?):
                transaction = nil
                if interactive { print("rolled back: nothing was sent") }
            case (.commit, nil), (.rollback, nil):
                printError("no transaction is open")
                if !interactive { throw ExitCode(1) }
            case (nil, var statements?):
                statements.append(input)
                transaction = statements
            case (nil, nil):
                try await run(input, all: false)
            }
        }
        if !buffer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            if transaction != nil { transaction?.append(buffer) } else { try await run(buffer, all: false) }
        }
        if let statements = transaction, !statements.isEmpty {
            printError("the input ended inside a transaction: its \(statements.count) statement(s) were not committed")
            throw ExitCode(1)
        }
    }
}

/// The shell's transaction control statements.
enum ShellInput {
    enum Control { case begin, commit, rollback }

    /// What an input is when it is exactly one BEGIN, COMMIT/END or
    /// ROLLBACK statement; nil for anything else.
    static func control(_ input: String) -> Control? {
        guard var tokens = SQLText.tokenize(input) else { return nil }
        while tokens.last?.isPunctuation(";") == true { tokens.removeLast() }
        guard let first = tokens.first?.keyword, !tokens.contains(where: { $0.isPunctuation(";") }) else { return nil }
        let rest = tokens.dropFirst().compactMap(\.keyword)
        guard rest.count == tokens.count - 1 else { return nil }
        switch first {
        case "BEGIN" where rest.allSatisfy({ ["DEFERRED", "IMMEDIATE", "EXCLUSIVE", "TRANSACTION"].contains($0) }):
            return .begin
        case "COMMIT", "END":
            return rest.allSatisfy { $0 == "TRANSACTION" } ? .commit : nil
        case "ROLLBACK":
            return rest.allSatisfy { $0 == "TRANSACTION" } ? .rollback : nil
        default:
            return nil
        }
    }
}
