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
                try await run(
                    ShellNode(
                        name: node.nodeID.short, execute: { try await node.execute($0, $1) },
                        status: { JSONRendering.status(try await node.status()) },
                        recentEntries: { try await node.store.recentEntries(limit: $0).map(JSONRendering.entry) }), values)
                try await node.close()
            case .remote(let remote):
                try await run(
                    ShellNode(
                        name: remote.baseURL.absoluteString, execute: { try await remote.execute($0, $1) }, status: { try await remote.status() },
                        recentEntries: { try await remote.recentEntries(limit: $0) }), values)
            }
        }
    }

    private func run(_ node: ShellNode, _ values: [Value]) async throws {
        guard let sql else {
            var shell = Shell(node: node, mode: json ? .json : .table)
            return try await shell.run()
        }
        let result = try await node.execute(sql, values)
        if json {
            printJSON(JSONRendering.transaction(result))
            return
        }
        if let query = result.lastQuery { print(TablePrinter.render(query)) }
        if result.entry != nil || result.lastQuery == nil {
            print("changes: \(result.changes), entry: \(result.entry?.hex ?? "none")")
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
