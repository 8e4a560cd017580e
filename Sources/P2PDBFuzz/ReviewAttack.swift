import Foundation
import P2PDBCore

/// One attack of the security review, as requests sent by several clients at
/// once for a while.
struct ReviewAttack: Sendable {
    let name: String
    let clients: Int
    /// The SQL of a client's n-th request.
    let sql: @Sendable (_ client: Int, _ request: Int) -> String

    static let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"

    static let all: [ReviewAttack] = [
        // Review 3: slow queries, more than there are readers.
        ReviewAttack(name: "endless queries, 6 at once", clients: 6) { _, _ in "\(endless) SELECT count(*) FROM c" },
        // Review 4: long function calls, at the length limit and past it.
        ReviewAttack(name: "long function calls, 2 at once", clients: 2) { client, _ in
            client == 0
                ? "SELECT length(printf('%.*c', 2000000000, 'a')), length(printf('%.*c', 2000000000, 'b'))"
                : "SELECT length(printf('%.*c', 100000000, 'a')), length(printf('%.*c', 100000000, 'b')), length(printf('%.*c', 100000000, 'c'))"
        },
        // Review 5: distinct large statements, each prepared once.
        ReviewAttack(name: "distinct 4 MiB statements, 2 at once", clients: 2) { client, request in
            "SELECT length('\(client)-\(request)-\(String(repeating: "a", count: 4 << 20))')"
        },
        // Review 6: endless streams of empty values.
        ReviewAttack(name: "endless empty strings, 2 at once", clients: 2) { _, _ in "\(endless) SELECT '' FROM c" },
        // Review 10: sorts that spill to temporary disk.
        ReviewAttack(name: "sorts spilling to temporary disk, 4 at once", clients: 4) { _, _ in
            "\(endless) SELECT x FROM c ORDER BY randomblob(20000)"
        },
        // Review 1: settings that would outlive the request, over and over.
        ReviewAttack(name: "PRAGMAs that change the connection or the process", clients: 2) { _, request in
            [
                "PRAGMA hard_heap_limit=100000", "PRAGMA query_only=1", "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA case_sensitive_like=1",
                "PRAGMA cache_size=-2000000", "PRAGMA mmap_size=1000000000", "PRAGMA temp_store_directory='/tmp'", "PRAGMA threads=8",
            ][request % 8]
        },
    ]

    private static let attackerWork = ComputeQueue(label: "p2pdb.hostile.attacker")

    func run(port: Int, token: String, seconds: Double, watch: Watch) async -> HostileRun.AttackOutcome {
        var outcome = HostileRun.AttackOutcome(name: name)
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        watch.startWindow()
        outcome.statuses = await withTaskGroup(of: [Int: Int].self) { group in
            for client in 0..<clients {
                group.addTask {
                    let api = APIClient(port: port, token: token)
                    var statuses: [Int: Int] = [:]
                    var request = 0
                    while ContinuousClock.now < deadline {
                        // The attacker shares this process with the node: its own
                        // work (a 4 MiB statement, encoded) stays off the shared
                        // pool, as another process's would.
                        let number = request
                        let body = await Self.attackerWork.run { APIClient.sqlBody(sql(client, number)) }
                        let status = (try? await api.send("POST", "/v1/sql", body: body))?.status ?? 0
                        statuses[status, default: 0] += 1
                        request += 1
                    }
                    return statuses
                }
            }
            return await group.reduce(into: [Int: Int]()) { $0.merge($1, uniquingKeysWith: +) }
        }
        outcome.requests = outcome.statuses.values.reduce(0, +)
        watch.window(into: &outcome)
        return outcome
    }
}
