import Foundation
import P2PDB
import P2PDBTestSupport
import Testing

@Suite("Crash safety")
struct CrashTests {
    /// Writes through the shell, kills it with SIGKILL in the middle of a
    /// stream of writes, and checks that every acknowledged write is there,
    /// each with its entry, and that the replica verifies.
    @Test func acknowledgedWritesSurviveKill9() throws {
        let temp = try TemporaryDirectory()
        let dir = temp.path("node")
        try p2pdb("init", "--data", dir)
        try p2pdb("sql", "--data", dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

        let process = try ChildProcess(p2pdbBinary.path, ["sql", "--data", dir], stdin: .pipe, stdout: .pipe)
        let input = try #require(process.standardInput)
        var reader = LineReader(handle: try #require(process.standardOutput))
        var acknowledged: [Int] = []
        for id in 1...120 {
            input.write(Data("INSERT INTO t VALUES (\(id), 'value \(id)');\n".utf8))
            guard let line = reader.nextLine(), line.hasPrefix("changes: 1, entry: ") else { break }
            acknowledged.append(id)
        }
        // Keep writing without waiting, then kill mid-stream.
        for id in 121...400 { input.write(Data("INSERT INTO t VALUES (\(id), 'x');\n".utf8)) }
        usleep(20_000)
        process.signal(SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(acknowledged.count == 120)

        let verify = try p2pdb("verify", "--data", dir)
        #expect(verify.status == 0, "\(verify.stderr)")
        let rows = try JSON.parse(try p2pdb("sql", "--data", dir, "--json", "SELECT id FROM t ORDER BY id").stdout)
        guard case .array(let items)? = rows["rows"] else { Issue.record("no rows"); return }
        let ids = items.compactMap { row -> Int? in
            guard case .array(let cells) = row, case .number(let text) = cells[0] else { return nil }
            return Int(text)
        }
        #expect(Set(acknowledged).isSubset(of: Set(ids)))
        // Writes and entries are one: every surviving row has its entry.
        let status = try JSON.parse(try p2pdb("status", "--data", dir, "--json").stdout)
        #expect(status["entries"] == .number(String(ids.count + 1)))
    }
}

/// Reads newline-terminated lines from a pipe, blocking.
struct LineReader {
    let handle: FileHandle
    var buffer = Data()

    mutating func nextLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}
