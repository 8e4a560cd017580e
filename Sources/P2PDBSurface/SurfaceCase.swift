import Foundation
import P2PDB

/// One case: replicas in a temporary directory run the case's script, then
/// the checker looks for broken invariants. A differential case also runs
/// every transaction on plain SQLite and compares.
///
/// ```swift
/// let report = await SurfaceCase.run(SurfaceOptions(seed: 1), caseNumber: 7)
/// if !report.passed { print(report.failureDescription) }
/// ```
public final class SurfaceCase {
    let script: SurfaceScript
    let keys: [NodeKey]
    let directory: URL
    var stores: [ReplicaStore] = []
    var report: CaseReport
    /// Plain SQLite beside replica 0, while it still agrees with it.
    var reference: ReferenceDatabase?
    /// Shows each transcript line as it is written: a case that crashes
    /// the process still shows the statement that did.
    private let echo: ((String) -> Void)?
    /// How many entries each replica has written: their seqs.
    private var ownEntries: [Int]
    private let storeOptions = StoreOptions(durability: .off, clock: ManualClock(milliseconds: 1_700_000_000_000))

    /// Runs case `caseNumber` of the run `options` describes. Never throws:
    /// whatever goes wrong is in the report.
    public static func run(_ options: SurfaceOptions, caseNumber: UInt64, echo: ((String) -> Void)? = nil) async -> CaseReport {
        await run(options, caseNumber: caseNumber, script: nil, echo: echo)
    }

    /// Runs the case with `script` in place of the one its number draws
    /// (the keys stay the case's): how a shrunk script is tried.
    static func run(_ options: SurfaceOptions, caseNumber: UInt64, script: SurfaceScript?, echo: ((String) -> Void)? = nil) async -> CaseReport {
        let run: SurfaceCase
        do {
            run = try SurfaceCase(options, caseNumber: caseNumber, script: script, echo: echo)
        } catch {
            var report = CaseReport(seed: options.seed, caseNumber: caseNumber, command: options.command(caseNumber: caseNumber))
            report.failures.append(SurfaceFailure(kind: "the case could not be set up", detail: "\(error)"))
            return report
        }
        await run.execute()
        return run.report
    }

    init(_ options: SurfaceOptions, caseNumber: UInt64, script: SurfaceScript? = nil, echo: ((String) -> Void)? = nil) throws {
        self.echo = echo
        var random = CaseRandom(seed: options.seed, caseNumber: caseNumber)
        let writers = options.replicas ?? (random.chance(0.25) ? 1 : random.int(in: 2...4))
        let statements = options.statements ?? random.int(in: 10...40)
        // Node IDs break ties between concurrent writes: they come from the case too.
        var keys: [NodeKey] = []
        for _ in 0..<(writers + 1) { keys.append(try NodeKey(seed: (0..<32).map { _ in UInt8(truncatingIfNeeded: random.next()) })) }
        var generator = ScriptGenerator(random: CaseRandom(stream: random.split()), writers: writers, statements: statements)
        self.script = script ?? generator.generate()
        if self.script.sharedKey { keys[writers - 1] = keys[0] }
        self.keys = Array(keys.prefix(self.script.replicas))
        ownEntries = Array(repeating: 0, count: self.script.replicas)
        report = CaseReport(seed: options.seed, caseNumber: caseNumber, command: options.command(caseNumber: caseNumber))
        report.tally.replicas = self.script.replicas
        report.differential = self.script.differential
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-surface-\(UUID().uuidString)")
    }

    /// Adds a line to the transcript, and shows it at once if asked to.
    func note(_ line: String) {
        report.transcript.append(line)
        echo?(line)
    }

    func fail(_ kind: String, _ detail: String) {
        report.failures.append(SurfaceFailure(kind: kind, detail: detail))
        note("  !! " + kind + ": " + detail)
    }

    /// A failure whose kind includes the shape of an error message, so that
    /// different errors count as different kinds.
    func fail(_ kind: String, at replica: Int, _ message: String) {
        fail(kind + ": " + StoredValue.escaped(RefusalReason.pattern(of: message)), "r\(replica): " + StoredValue.escaped(message))
    }

    func path(of replica: Int) -> String { directory.appendingPathComponent("r\(replica).sqlite").path }

    func openStore(_ replica: Int) throws -> ReplicaStore {
        try ReplicaStore(path: path(of: replica), key: keys[replica], options: storeOptions)
    }

    private func execute() async {
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for replica in 0..<script.replicas { stores.append(try openStore(replica)) }
            if script.differential { reference = try ReferenceDatabase() }
        } catch {
            fail("the case could not be set up", "\(error)")
            return
        }
        note(
            "replicas: " + keys.enumerated().map { "r\($0.offset) (node \($0.element.nodeID.short))" }.joined(separator: ", ")
                + (script.differential ? "; r0 runs beside plain SQLite, r1 only receives" : "")
                + (script.sharedKey ? "; r\(script.writers - 1) has r0's key and starts again at seq 1" : ""))
        for step in script.steps {
            switch step {
            case .transaction(let replica, let requests): await runTransaction(requests, on: replica)
            case .delivery(let delivery): await deliver(delivery)
            }
        }
        for delivery in script.finale { await deliver(delivery) }
        await checkConvergence()
        for store in stores { try? await store.close() }
    }

    // MARK: Transactions

    private func runTransaction(_ requests: [[ScriptStatement]], on replica: Int) async {
        let statements = requests.flatMap { $0 }
        report.tally.transactions += 1
        report.tally.statements += statements.count
        note("r\(replica): " + requests.map(Self.describe).joined(separator: " | "))
        let sqlRequests = requests.map { request in
            SQLRequest(request.map(\.sql).joined(separator: "; "), request.flatMap(\.parameters))
        }
        let outcome: TransactionOutcome
        do {
            outcome = .accepted(try await stores[replica].execute(sqlRequests))
        } catch {
            outcome = TransactionOutcome(error: error)
        }
        switch outcome {
        case .accepted(let result):
            report.tally.accepted += statements.count
            var entry = ", no entry"
            if result.entry != nil {
                ownEntries[replica] += 1
                entry = ", entry r\(replica).\(ownEntries[replica])"
            }
            note("    → accepted" + entry + Self.describe(result))
        case .refused(let reason, let message):
            report.tally.refused += statements.count
            report.tally.refusals[reason, default: 0] += 1
            note("    → refused: " + StoredValue.escaped(message))
        case .failed(let error):
            report.tally.failed += statements.count
            note("    → failed (\(error.kind.rawValue)): " + StoredValue.escaped(error.message))
        case .unexpected(let message):
            report.tally.failed += statements.count
            fail("a local write fails with an unexpected error", at: replica, message)
        }
        if replica == 0, let reference { await compare(outcome, statements, with: reference) }
    }

    /// A request as the transcript shows it: its SQL, then its parameters.
    static func describe(_ request: [ScriptStatement]) -> String {
        let sql = StoredValue.escaped(request.map(\.sql).joined(separator: "; "))
        let parameters = request.flatMap(\.parameters)
        return parameters.isEmpty ? sql : sql + "  [" + parameters.map { StoredValue($0).description }.joined(separator: ", ") + "]"
    }

    /// The rows the statements of a transaction returned, a few of each.
    static func describe(_ result: TransactionResult) -> String {
        let queries = result.results.filter(\.isQuery)
        guard !queries.isEmpty else { return "" }
        return "; returned " + queries.map { query in
            query.rows.prefix(3).map { DatabaseSnapshot.stored([$0])[0].rowDescription }.joined(separator: " ")
                + (query.rows.count > 3 ? " and \(query.rows.count - 3) more" : "") + (query.rows.isEmpty ? "no rows" : "")
        }.joined(separator: " / ")
    }
}
