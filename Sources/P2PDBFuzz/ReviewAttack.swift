import Foundation
import P2PDBCore

/// One attack of the security review, or on the endpoints added since, as
/// requests sent by several clients at once for a while.
struct ReviewAttack: Sendable {
    struct Request: Sendable {
        var method = "POST"
        var path = "/v1/sql"
        var body: String?
        var authorized = true
    }

    let name: String
    let clients: Int
    /// A client's n-th request.
    let request: @Sendable (_ client: Int, _ request: Int) -> Request

    init(name: String, clients: Int, request: @escaping @Sendable (_ client: Int, _ request: Int) -> Request) {
        self.name = name
        self.clients = clients
        self.request = request
    }

    /// An attack that sends SQL to `POST /v1/sql`.
    init(name: String, clients: Int, sql: @escaping @Sendable (_ client: Int, _ request: Int) -> String) {
        self.init(name: name, clients: clients) { client, number in Request(body: APIClient.sqlBody(sql(client, number))) }
    }

    static let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"

    static let all: [ReviewAttack] = [
        // Review 3: slow queries, more than there are readers.
        ReviewAttack(name: "endless queries, 6 at once", clients: 6) { (_: Int, _: Int) -> String in "\(endless) SELECT count(*) FROM c" },
        // Review 4: long function calls, at the length limit and past it.
        ReviewAttack(name: "long function calls, 2 at once", clients: 2) { (client: Int, _: Int) -> String in
            client == 0
                ? "SELECT length(printf('%.*c', 2000000000, 'a')), length(printf('%.*c', 2000000000, 'b'))"
                : "SELECT length(printf('%.*c', 100000000, 'a')), length(printf('%.*c', 100000000, 'b')), length(printf('%.*c', 100000000, 'c'))"
        },
        // Review 5: distinct large statements, each prepared once.
        ReviewAttack(name: "distinct 4 MiB statements, 2 at once", clients: 2) { (client: Int, request: Int) -> String in
            "SELECT length('\(client)-\(request)-\(String(repeating: "a", count: 4 << 20))')"
        },
        // Review 6: endless streams of empty values.
        ReviewAttack(name: "endless empty strings, 2 at once", clients: 2) { (_: Int, _: Int) -> String in "\(endless) SELECT '' FROM c" },
        // Review 10: sorts that spill to temporary disk.
        ReviewAttack(name: "sorts spilling to temporary disk, 4 at once", clients: 4) { (_: Int, _: Int) -> String in
            "\(endless) SELECT x FROM c ORDER BY randomblob(20000)"
        },
        // Review 1: settings that would outlive the request, over and over.
        ReviewAttack(name: "PRAGMAs that change the connection or the process", clients: 2) { (_: Int, request: Int) -> String in
            [
                "PRAGMA hard_heap_limit=100000", "PRAGMA query_only=1", "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA case_sensitive_like=1",
                "PRAGMA cache_size=-2000000", "PRAGMA mmap_size=1000000000", "PRAGMA temp_store_directory='/tmp'", "PRAGMA threads=8",
            ][request % 8]
        },
        // Live queries: endless ones, and more registrations than the node keeps.
        ReviewAttack(name: "subscriptions to endless and large queries, without end", clients: 3) { client, request in
            let sql = [
                "\(endless) SELECT count(*) FROM c", "\(endless) SELECT x FROM c LIMIT 1000000",
                "SELECT \(client), \(request)",
            ][(client + request) % 3]
            return Request(path: "/v1/subscriptions", body: APIClient.sqlBody(sql))
        },
        // Tickets: forged, and used on paths they do not open.
        ReviewAttack(name: "forged and misused tickets", clients: 2) { client, request in
            let forged = "v1.\(Int64.max).admin.\(String(repeating: "A", count: request % 64))"
            return Request(
                method: client == 0 ? "GET" : "POST", path: client == 0 ? "/v1/changes?ticket=\(forged)" : "/v1/sql?ticket=\(forged)",
                body: client == 0 ? nil : APIClient.sqlBody("DELETE FROM hostile"), authorized: false)
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
                        let sent = await Self.attackerWork.run { self.request(client, number) }
                        let status = (try? await api.send(sent.method, sent.path, body: sent.body, authorized: sent.authorized))?.status ?? 0
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
