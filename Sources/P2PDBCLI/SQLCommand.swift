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
    private func shell(name: String, execute: (String) async throws -> TransactionResult) async throws {
        let interactive = isatty(STDIN_FILENO) != 0
        var buffer = ""
        if interactive { print("p2pdb \(name) — end statements with ';', Ctrl-D quits") }
        while true {
            if interactive {
                print(buffer.isEmpty ? "p2pdb> " : "   ...> ", terminator: "")
                fflush(nil)
            }
            guard let line = readLine(strippingNewline: false) else { break }
            buffer += line
            guard SQLCompleteness.isComplete(buffer) else { continue }
            let statement = buffer
            buffer = ""
            do {
                printResult(try await execute(statement))
                // Each result is an acknowledgement: do not let it sit in a buffer.
                fflush(nil)
            } catch let error as P2PDBError {
                printError(error.message)
                if !interactive { throw ExitCode(1) }
            }
        }
        if !buffer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            printResult(try await execute(buffer))
        }
    }
}
