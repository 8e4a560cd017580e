// A cash register in a few lines: it records sales in its own replica and
// syncs them with the other registers, with or without a network.
//
//   swift run RegisterExample --data till-1 --listen 127.0.0.1:7101 --sell apple:2 --sell pear:1
//   swift run RegisterExample --data till-2 --listen 127.0.0.1:7102 --join 127.0.0.1:7101 --sell plum:5 --until 3
//
// Each sells what it is told to, then waits until it holds `--until` sales
// (its own and the others'), prints the day's totals and stops.

import Foundation
import P2PDB
import P2PDBReplication

struct Sale: Codable, Sendable {
    var id: String
    var item: String
    var qty: Int
}

struct Total: Decodable, Sendable {
    var item: String
    var qty: Int
}

func option(_ name: String, in arguments: [String]) -> [String] {
    zip(arguments, arguments.dropFirst()).filter { $0.0 == "--\(name)" }.map(\.1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let data = option("data", in: arguments).first else {
    FileHandle.standardError.write(Data("usage: RegisterExample --data DIR [--listen H:P] [--join H:P]... [--sell ITEM:QTY]... [--until N]\n".utf8))
    exit(64)
}

do {
    let node = try Node.open(DataDirectory(path: data), createIfNeeded: true)
    try await node.execute("CREATE TABLE IF NOT EXISTS sales (id TEXT PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL)")
    let options = SyncOptions(listen: option("listen", in: arguments).first, join: option("join", in: arguments))
    if options.listen != nil || !options.join.isEmpty { try await node.startSync(options) }

    // Selling never waits for the network.
    for sold in option("sell", in: arguments) {
        let parts = sold.split(separator: ":")
        guard parts.count == 2, let qty = Int(parts[1]) else { throw P2PDBError(.invalidInput, "--sell takes ITEM:QTY, not \(sold)") }
        let sale = Sale(id: UUID().uuidString, item: String(parts[0]), qty: qty)
        try await node.execute("INSERT INTO sales (id, item, qty) VALUES (:id, :item, :qty)", record: sale)
        print("sold \(sale.qty) \(sale.item)")
    }

    // The other registers' sales arrive through the live query.
    let wanted = option("until", in: arguments).first.flatMap(Int.init) ?? 0
    for try await count in node.observe(Int.self, "SELECT count(*) FROM sales") where (count.first ?? 0) >= wanted {
        break
    }
    for total in try await node.query(Total.self, "SELECT item, sum(qty) AS qty FROM sales GROUP BY item ORDER BY item") {
        print("total \(total.item) \(total.qty)")
    }
    // Before leaving, give connected registers what they still lack of ours
    // (as their version vectors say), for a few seconds at most.
    if node.isSyncing {
        let deadline = ContinuousClock.now + .seconds(5)
        for await peers in node.peerUpdates(every: .milliseconds(100)) {
            if peers.allSatisfy({ !$0.connected || $0.entriesAhead == 0 }) || ContinuousClock.now > deadline { break }
        }
    }
    await node.stopSync()
    try await node.close()
} catch {
    FileHandle.standardError.write(Data("register: \(error)\n".utf8))
    exit(1)
}
