import ArgumentParser
import P2PDB

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "List rows that break a FOREIGN KEY or CHECK constraint after merges.",
        discussion: """
            A node's own writes are checked as SQLite checks them; merges of other replicas' entries never are, so a \
            sale line whose product another register deleted meanwhile stays, and shows up here. Resolve such rows \
            with ordinary writes. Exits with status 1 when there is any.
            """)

    @OptionGroup var target: TargetOptions

    @Flag(help: "Print the problems as JSON.")
    var json = false

    func run() async throws {
        let report = try await reportingErrors { () async throws -> JSON in
            switch try target.open() {
            case .local(let node):
                let problems = try await node.store.constraintProblems()
                try await node.close()
                return JSONRendering.constraintProblems(problems)
            case .remote(let remote):
                return try await remote.send("GET", "/v1/check")
            }
        }
        var problems: [JSON] = []
        if case .array(let items)? = report["problems"] { problems = items }
        if json {
            printJSON(report)
        } else if problems.isEmpty {
            print("ok: every row satisfies its table's constraints")
        } else {
            for problem in problems { print(problem["message"]?.stringValue ?? problem.text) }
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
