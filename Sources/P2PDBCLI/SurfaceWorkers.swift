import Foundation
import P2PDBSurface

#if canImport(Glibc)
import Glibc
#endif

/// Runs the cases of `p2pdb surface` in child processes, a chunk each, so
/// that a case that crashes the engine is reported as a failure of that
/// case and the run goes on with the next.
///
/// Each worker is `p2pdb surface --worker` on a range of cases; it prints
/// one JSON report per case on its standard output, which goes to a file.
/// A worker that dies leaves reports for the cases before the crash: the
/// first case without one crashed, and a new worker resumes after it.
struct SurfaceWorkers: Sendable {
    let options: SurfaceOptions
    let chunk: UInt64
    let executable: String
    let scratch: URL

    init(options: SurfaceOptions, chunk: UInt64) throws {
        self.options = options
        self.chunk = chunk
        executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("p2pdb-surface-workers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    /// Runs `cases`, `jobs` workers at a time; `each` sees every report.
    func run(_ cases: Range<UInt64>, jobs: Int, each: (CaseReport) -> Void) async {
        defer { try? FileManager.default.removeItem(at: scratch) }
        let chunks = stride(from: cases.lowerBound, to: cases.upperBound, by: Int(chunk)).map { $0..<min($0 + chunk, cases.upperBound) }
        await withTaskGroup(of: [CaseReport].self) { group in
            var next = 0
            for _ in 0..<max(1, jobs) where next < chunks.count {
                let range = chunks[next]
                let worker = next
                group.addTask { await self.runChunk(range, worker: worker) }
                next += 1
            }
            while let reports = await group.next() {
                for report in reports { each(report) }
                if next < chunks.count {
                    let range = chunks[next]
                    let worker = next
                    group.addTask { await self.runChunk(range, worker: worker) }
                    next += 1
                }
            }
        }
    }

    /// Every case of `range`, in workers until none is left.
    private func runChunk(_ range: Range<UInt64>, worker: Int) async -> [CaseReport] {
        var reports: [CaseReport] = []
        var start = range.lowerBound
        while start < range.upperBound {
            let output = scratch.appendingPathComponent("w\(worker)-\(start).out")
            let errors = scratch.appendingPathComponent("w\(worker)-\(start).err")
            defer {
                try? FileManager.default.removeItem(at: output)
                try? FileManager.default.removeItem(at: errors)
            }
            var arguments = ["surface", "--worker", "--seed", "\(options.seed)", "--first", "\(start)", "--cases", "\(range.upperBound - start)"]
            if let replicas = options.replicas { arguments += ["--replicas", "\(replicas)"] }
            if let statements = options.statements { arguments += ["--statements", "\(statements)"] }
            let status = await Self.spawnAndWait(executable, arguments, stdout: output.path, stderr: errors.path)
            let decoder = JSONDecoder()
            let lines = ((try? String(contentsOf: output, encoding: .utf8)) ?? "").split(separator: "\n")
            let done = lines.compactMap { try? decoder.decode(CaseReport.self, from: Data($0.utf8)) }
            reports += done
            start += UInt64(done.count)
            guard start < range.upperBound else { break }
            // The worker stopped before its last case: that case crashed it.
            var report = CaseReport(seed: options.seed, caseNumber: start, command: options.command(caseNumber: start))
            let crash = Self.crashSummary((try? String(contentsOf: errors, encoding: .utf8)) ?? "", status: status)
            report.failures.append(SurfaceFailure(kind: "the process crashes or hangs: " + crash.message, detail: crash.location))
            reports.append(report)
            start += 1
        }
        return reports
    }

    /// The runtime's message (or how the worker ended) and the first frame
    /// in P2PDB's sources.
    static func crashSummary(_ errors: String, status: String) -> (message: String, location: String) {
        let lines = errors.split(separator: "\n").map(String.init)
        let message = lines.first { $0.contains("Fatal error") || $0.contains("runtime failure") }?
            .trimmingCharacters(in: .whitespaces) ?? status
        let frame = lines.first { $0.contains("/Sources/P2PDB") }.map { line -> String in
            guard let range = line.range(of: " in p2pdb at ") else { return line }
            return String(line[range.upperBound...])
        }
        return (message, frame ?? "no frame in P2PDB's sources")
    }

    /// Starts `executable` with its output in files and waits for it on a
    /// thread of its own; returns how it ended.
    static func spawnAndWait(_ executable: String, _ arguments: [String], stdout: String, stderr: String) async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: spawnAndWaitBlocking(executable, arguments, stdout: stdout, stderr: stderr))
            }
        }
    }

    private static func spawnAndWaitBlocking(_ executable: String, _ arguments: [String], stdout: String, stderr: String) -> String {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        // A short backtrace of the crashed thread: enough to name the
        // failing line, without the seconds a full one takes.
        let environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=yes,threads=crashed,registers=none,images=none,limit=16,top=0,sanitize=no"],
            uniquingKeysWith: { $1 }
        ).map { strdup("\($0.key)=\($0.value)") }
        defer { for pointer in environment { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, nil, argv + [nil], environment + [nil])
        guard code == 0 else { return "cannot start \(executable): errno \(code)" }
        // A case takes well under a second; a worker that adds no report
        // for two minutes is stuck in one, and is stopped.
        var status: Int32 = 0
        var size = -1
        var lastGrowth = ContinuousClock.now
        var stopped = false
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid || (waited == -1 && errno != EINTR) { break }
            let now = ContinuousClock.now
            let current = (try? FileManager.default.attributesOfItem(atPath: stdout)[.size] as? Int) ?? 0
            if current != size {
                size = current
                lastGrowth = now
            } else if !stopped, now - lastGrowth > .seconds(120) {
                kill(pid, SIGKILL)
                stopped = true
            }
            usleep(100_000)
        }
        if stopped { return "a hang: no case finished in 120 s" }
        return status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }
}
