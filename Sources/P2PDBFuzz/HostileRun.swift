import Foundation
import Logging
import P2PDB
import P2PDBCore
import P2PDBServer
import Synchronization

/// A node's HTTP API against a hostile client, in one process: first each
/// attack of the security review driven for a while, then random statements
/// from ``HostileStatementGenerator``, while ordinary clients keep selling
/// and a watcher polls `/healthz`. Checked throughout: every answer is one
/// the API documents (never a 500); a request that made no entry changed no
/// row (the state hash) and one that made an entry made exactly one; the
/// ordinary clients read their own writes with SQLite's usual semantics;
/// `verify` passes; resident memory and temporary disk stay within the
/// bounds the limits state.
public struct HostileRun: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64
        public var statements: Int
        /// How long each attack of the review runs; 0 skips them.
        public var attackSeconds: Double
        public var verifyEvery: Int
        public var ordinaryClients: Int
        public var limits: StatementLimits
        /// The process-wide SQLite memory limit the node runs with.
        public var sqliteMemoryBytes: Int
        /// What `/healthz` may take.
        public var healthBudget: Duration
        /// Report every generated request and its answer through `progress`.
        public var showRequests = false
        /// Only the attacks whose names start with one of these; all if empty.
        public var attacks: [String] = []

        public init(
            seed: UInt64, statements: Int, attackSeconds: Double = 5, verifyEvery: Int = 2_000, ordinaryClients: Int = 2,
            limits: StatementLimits = StatementLimits(timeout: .seconds(1), maximumResultBytes: 16 << 20, maximumTemporaryBytes: 32 << 20),
            sqliteMemoryBytes: Int = 512 << 20, healthBudget: Duration = .milliseconds(100)
        ) {
            self.seed = seed
            self.statements = statements
            self.attackSeconds = attackSeconds
            self.verifyEvery = max(1, verifyEvery)
            self.ordinaryClients = ordinaryClients
            self.limits = limits
            self.sqliteMemoryBytes = sqliteMemoryBytes
            self.healthBudget = healthBudget
        }

        /// The most resident memory may grow over the run: SQLite's own limit,
        /// each reader's and the writer's result in flight (as JSON, twice
        /// its counted size), and 128 MiB for the rest of the process.
        public var memoryBoundKilobytes: Int {
            (sqliteMemoryBytes + (limits.readConnections + 1) * limits.maximumResultBytes * 2 + (128 << 20)) >> 10
        }

        /// The most temporary disk open at once: each reader's budget and the
        /// writer's.
        public var temporaryDiskBound: Int { (limits.readConnections + 1) * limits.maximumTemporaryBytes }
    }

    /// What one attack did to the node.
    public struct AttackOutcome: Sendable {
        public var name: String
        public var requests = 0
        public var statuses: [Int: Int] = [:]
        public var peakMemoryGrowthKilobytes = 0
        public var peakTemporaryBytes = 0
        public var slowestHealthMilliseconds = 0.0
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var attacks: [AttackOutcome] = []
        public var statements = 0
        public var statuses: [Int: Int] = [:]
        public var entriesMade = 0
        public var ordinaryWrites = 0
        public var verifications = 0
        public var healthChecks = 0
        public var slowHealthChecks = 0
        public var slowestHealthMilliseconds = 0.0
        public var peakMemoryGrowthKilobytes = 0
        public var peakTemporaryBytes = 0
        public var memoryBoundKilobytes = 0
        public var temporaryDiskBound = 0
        public var failures: [String] = []
        public var seconds = 0.0

        public var isClean: Bool {
            failures.isEmpty && slowHealthChecks == 0 && peakMemoryGrowthKilobytes <= memoryBoundKilobytes
                && peakTemporaryBytes <= temporaryDiskBound
        }

        public var description: String {
            var lines: [String] = []
            for attack in attacks {
                lines.append(
                    "attack \(attack.name): \(attack.requests) requests \(Self.statusText(attack.statuses)), "
                        + "memory +\(attack.peakMemoryGrowthKilobytes >> 10) MiB, temporary disk \(attack.peakTemporaryBytes >> 20) MiB, "
                        + "slowest /healthz \(String(format: "%.1f", attack.slowestHealthMilliseconds)) ms")
            }
            lines.append(
                "seed \(seed): \(statements) generated statements \(Self.statusText(statuses)), \(entriesMade) of them made entries; "
                    + "\(ordinaryWrites) ordinary writes; verify passed \(verifications) times")
            lines.append(
                "/healthz: \(healthChecks) checks, \(slowHealthChecks) over budget, slowest \(String(format: "%.1f", slowestHealthMilliseconds)) ms")
            lines.append(
                "peak memory growth \(peakMemoryGrowthKilobytes >> 10) MiB (bound \(memoryBoundKilobytes >> 10) MiB), "
                    + "peak temporary disk \(peakTemporaryBytes >> 20) MiB (bound \(temporaryDiskBound >> 20) MiB), \(String(format: "%.0f", seconds)) s")
            lines += failures.prefix(20).map { "FAILURE: \($0)" }
            if failures.count > 20 { lines.append("... and \(failures.count - 20) more failures") }
            return lines.joined(separator: "\n")
        }

        static func statusText(_ statuses: [Int: Int]) -> String {
            "(" + statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
        }
    }

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Starts a node in a temporary directory, runs everything, stops it.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-hostile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        SQLiteMemoryLimit.set(bytes: options.sqliteMemoryBytes)
        let node = try Node.open(
            DataDirectory(path: directory.path), createIfNeeded: true, options: StoreOptions(durability: .off, limits: options.limits))
        let token = "hostile-run-token-\(UUID().uuidString)"
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "hostile")
        logger.logLevel = .critical
        let server = NodeServer(
            node: node, configuration: ServerConfiguration(port: 0, apiToken: token), logger: logger,
            onListening: { portContinuation.yield($0) })
        let serving = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw P2PDBError(.unavailable, "the node's HTTP API did not start") }

        let watch = Watch(budget: options.healthBudget)
        let watcher = Task { await watch.poll(APIClient(port: port, token: token)) }
        var report = Report(seed: options.seed, memoryBoundKilobytes: options.memoryBoundKilobytes, temporaryDiskBound: options.temporaryDiskBound)
        let started = ContinuousClock.now
        do {
            let client = APIClient(port: port, token: token)
            for sql in [HostileStatementGenerator.createTable, OrdinaryClient.createTable] {
                let reply = try await client.sql(sql)
                guard reply.status == 200 else { throw P2PDBError(.storage, "could not create the run's tables: \(reply.status)") }
            }
            if options.attackSeconds > 0 {
                for attack in ReviewAttack.all where options.attacks.isEmpty || options.attacks.contains(where: attack.name.hasPrefix) {
                    progress("attack: \(attack.name); SQLite holds \(SQLiteMemoryLimit.used >> 20) MiB")
                    report.attacks.append(await attack.run(port: port, token: token, seconds: options.attackSeconds, watch: watch))
                }
            }
            try await generated(node: node, port: port, token: token, watch: watch, report: &report, progress: progress)
        } catch {
            report.failures.append("the run stopped: \(error)")
        }
        watch.stop()
        await watcher.value
        watch.fill(&report)
        report.seconds = Double((ContinuousClock.now - started).components.seconds)
        await server.shutdown()
        _ = try? await serving.value
        try await node.close()
        return report
    }

    private func generated(
        node: Node, port: Int, token: String, watch: Watch, report: inout Report, progress: @escaping @Sendable (String) -> Void
    ) async throws {
        let generator = try HostileStatementGenerator(seed: options.seed)
        let client = APIClient(port: port, token: token)
        let gate = AsyncGate()
        let ordinary = (0..<options.ordinaryClients).map { index in
            OrdinaryClient(index: index, client: APIClient(port: port, token: token), gate: gate)
        }
        let ordinaryTasks = ordinary.map { client in Task { await client.run() } }
        // Stopped by a flag, not by cancelling: cancelling a URLSession
        // request in flight can deadlock FoundationNetworking on Linux.
        defer { for client in ordinary { client.stop() } }
        for index in 0..<options.statements {
            let request = generator.next()
            await gate.acquire()
            let before = node.store.summary
            let reply: APIClient.Reply
            let sent = ContinuousClock.now
            do {
                reply = try await client.send("POST", request.path, body: request.body)
            } catch {
                await gate.release()
                report.failures.append("no answer (\(error)) to \(request.statements)")
                continue
            }
            let after = node.store.summary
            await gate.release()
            report.statements += 1
            report.statuses[reply.status, default: 0] += 1
            if options.showRequests {
                progress("\(reply.status) \(ContinuousClock.now - sent) \(request.statements.map(\.debugDescription).joined(separator: " ; ")) -> \(reply.json?.text.prefix(200) ?? "")")
            }
            if let problem = Self.problem(with: reply, before: before, after: after) {
                report.failures.append("\(problem): \(request.statements.map { $0.debugDescription })")
            }
            if after.entryCount > before.entryCount { report.entriesMade += 1 }
            if (index + 1) % options.verifyEvery == 0 || index + 1 == options.statements {
                let verification = try await node.store.verify()
                report.verifications += 1
                if !verification.isValid {
                    report.failures.append("verify after statement \(index + 1): \(verification.problems.prefix(3))")
                    break
                }
                progress(
                    "\(index + 1) statements, \(report.failures.count) failures, memory \(ProcessResources.residentKilobytes() >> 10) MiB, "
                        + "SQLite's \(SQLiteMemoryLimit.used >> 20) MiB")
            }
        }
        for client in ordinary { client.stop() }
        for (task, client) in zip(ordinaryTasks, ordinary) {
            await task.value
            report.ordinaryWrites += client.writes
            report.failures += client.failures
        }
    }

    /// What is wrong with one answer, given the replica before and after it.
    static func problem(with reply: APIClient.Reply, before: ReplicaSummary, after: ReplicaSummary) -> String? {
        let documented: Set<Int> = [200, 400, 403, 404, 409, 413, 503]
        guard documented.contains(reply.status) else { return "answered \(reply.status) \(reply.json?.text ?? "")" }
        if reply.status == 503, reply.retryAfter == nil { return "503 without Retry-After" }
        let entry = reply.json?["entry"]?.stringValue
        if reply.status == 200, let entry {
            guard after.entryCount == before.entryCount + 1, after.heads.map(\.hex).contains(entry) else {
                return "acknowledged entry \(entry) but the log went from \(before.entryCount) to \(after.entryCount) entries"
            }
        } else if after.entryCount != before.entryCount || after.stateHash != before.stateHash {
            return "answered \(reply.status) without an entry, yet the replica changed (\(before.entryCount) to \(after.entryCount) entries)"
        }
        return nil
    }
}

/// A register that keeps selling while the hostile client runs: each sale is
/// a write that must succeed (or be told to retry), and each read of its own
/// sales must give back what it wrote, with SQLite's usual semantics and
/// column names.
final class OrdinaryClient: Sendable {
    static let createTable = "CREATE TABLE register_sales (id INTEGER PRIMARY KEY, register INTEGER, amount REAL, note TEXT)"

    let index: Int
    let client: APIClient
    let gate: AsyncGate
    private let state = Mutex<(writes: Int, failures: [String])>((0, []))
    private let stopped = Atomic<Bool>(false)

    var writes: Int { state.withLock { $0.writes } }
    var failures: [String] { state.withLock { $0.failures } }

    init(index: Int, client: APIClient, gate: AsyncGate) {
        self.index = index
        self.client = client
        self.gate = gate
    }

    /// Ends the run after the request in flight.
    func stop() { stopped.store(true, ordering: .relaxed) }

    func run() async {
        var sold = 0
        while !stopped.load(ordering: .relaxed) {
            await gate.acquire()
            let id = index * 1_000_000 + sold
            let reply = try? await client.sql("INSERT INTO register_sales VALUES (\(id), \(index), 0.5, 'caf\u{E9}')")
            await gate.release()
            guard let reply else { continue }
            if reply.status == 200, reply.json?["entry"]?.stringValue != nil {
                sold += 1
                state.withLock { $0.writes += 1 }
            } else if reply.status != 503 {
                record("a sale was answered \(reply.status): \(reply.json?.text ?? "")")
            }
            let low = index * 1_000_000
            guard let read = try? await client.sql(
                "SELECT count(*), total(amount), 'a' LIKE 'A', typeof(amount) FROM register_sales WHERE register = \(index) AND id >= \(low)")
            else { continue }
            if read.status == 503 { continue }
            let columns = JSON.array(["count(*)", "total(amount)", "'a' LIKE 'A'", "typeof(amount)"].map { JSON.string($0) })
            let row: [JSON]? = if case .array(let rows)? = read.json?["rows"], rows.count == 1, case .array(let row) = rows[0] { row } else { nil }
            let total = row.flatMap { row in if case .number(let text) = row[1] { Double(text) } else { nil } }
            let expected: Bool =
                if let row, row.count == 4 {
                    read.json?["columns"] == columns && row[0].intValue == sold && total == Double(sold) * 0.5 && row[2].intValue == 1
                        && row[3] == (sold == 0 ? .null : .string("real"))
                } else { false }
            if read.status != 200 || !expected {
                record("register \(index) read \(read.status) \(read.json?.text ?? "") after \(sold) sales")
            }
        }
    }

    private func record(_ failure: String) {
        state.withLock { if $0.failures.count < 20 { $0.failures.append(failure) } }
    }
}

/// Polls `/healthz` every 20 ms and samples the process's memory and
/// temporary disk, keeping the peaks.
final class Watch: Sendable {
    /// The peaks over some span: the run, or one attack.
    private struct Peaks {
        var baselineKilobytes: Int
        var memoryGrowth = 0
        var temporary = 0
        var slowest = 0.0
    }

    private struct State {
        var stopped = false
        var checks = 0
        var slow = 0
        var run: Peaks
        var window: Peaks
    }

    private let budget: Duration
    private let state: Mutex<State>

    init(budget: Duration) {
        self.budget = budget
        let baseline = ProcessResources.residentKilobytes()
        state = Mutex(State(run: Peaks(baselineKilobytes: baseline), window: Peaks(baselineKilobytes: baseline)))
    }

    func poll(_ client: APIClient) async {
        while !state.withLock({ $0.stopped }) {
            let start = ContinuousClock.now
            let healthy = (try? await client.send("GET", "/healthz"))?.status == 200
            let elapsed = ContinuousClock.now - start
            let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
            let memory = ProcessResources.residentKilobytes()
            let temporary = ProcessResources.deletedOpenFileBytes()
            state.withLock { state in
                state.checks += 1
                if !healthy || elapsed > budget { state.slow += 1 }
                for keyPath in [\State.run, \State.window] {
                    state[keyPath: keyPath].slowest = max(state[keyPath: keyPath].slowest, milliseconds)
                    state[keyPath: keyPath].memoryGrowth = max(state[keyPath: keyPath].memoryGrowth, memory - state[keyPath: keyPath].baselineKilobytes)
                    state[keyPath: keyPath].temporary = max(state[keyPath: keyPath].temporary, temporary)
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() { state.withLock { $0.stopped = true } }

    /// Starts a new window for the peaks of one attack, its memory growth
    /// counted from now.
    func startWindow() {
        let baseline = ProcessResources.residentKilobytes()
        state.withLock { $0.window = Peaks(baselineKilobytes: baseline) }
    }

    /// The peaks since ``startWindow()``, into one attack's outcome.
    func window(into outcome: inout HostileRun.AttackOutcome) {
        state.withLock { state in
            outcome.slowestHealthMilliseconds = state.window.slowest
            outcome.peakMemoryGrowthKilobytes = state.window.memoryGrowth
            outcome.peakTemporaryBytes = state.window.temporary
        }
    }

    func fill(_ report: inout HostileRun.Report) {
        state.withLock { state in
            report.healthChecks = state.checks
            report.slowHealthChecks = state.slow
            report.slowestHealthMilliseconds = state.run.slowest
            report.peakMemoryGrowthKilobytes = state.run.memoryGrowth
            report.peakTemporaryBytes = state.run.temporary
        }
    }
}
