import ArgumentParser
import Foundation
import Logging
import P2PDB

/// `--data DIR`, shared by every command that works on a data directory.
struct DataOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's data directory (default: $P2PDB_DATA).", valueName: "dir"))
    var data: String

    var directory: DataDirectory { DataDirectory(path: data) }
}

/// Runs a command body, turning a ``P2PDBError`` into one line on standard
/// error, through `logger` if one is given, and a non-zero exit status.
func reportingErrors<T>(to logger: Logger? = nil, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as P2PDBError {
        if let logger {
            logger.error("\(error.message)")
        } else {
            printError(error.message)
        }
        throw ExitCode(exitCode(for: error.kind))
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("p2pdb: \(message)\n".utf8))
}

func exitCode(for kind: P2PDBError.Kind) -> Int32 {
    switch kind {
    case .notInitialized, .locked: return 3
    case .corrupt: return 4
    default: return 1
    }
}

/// Parses a `--param` value: JSON scalars keep their type (`42`, `1.5`,
/// `null`, `"42"`, `{"base64": "..."}`); anything else is text.
func parseParameter(_ text: String) throws -> Value {
    guard let json = try? JSON.parse(text) else { return .text(text) }
    switch json {
    case .array: return .text(text)
    default: return try Value(json: json)
    }
}

/// Prints query results as an aligned table.
enum TablePrinter {
    static func render(_ result: StatementResult) -> String {
        let header = result.columns
        let rows = result.rows.map { $0.map(cell) }
        var widths = header.map(\.count)
        for row in rows {
            for (index, value) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], value.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: " | ").trimmingTrailingSpaces()
        }
        var output = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        output += rows.map(line)
        output.append("(\(rows.count) row\(rows.count == 1 ? "" : "s"))")
        return output.joined(separator: "\n")
    }

    static func cell(_ value: Value) -> String {
        switch value {
        case .null: return "NULL"
        case .integer(let integer): return String(integer)
        case .real(let real): return String(real)
        case .text(let text): return text
        case .blob(let bytes): return "X'" + Hex.encode(bytes).uppercased() + "'"
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}

func printJSON(_ json: JSON) { print(json.text) }

/// `--json` for a command that prints a result: one JSON document on
/// standard output instead of the text for people.
struct JSONOutputOption: ParsableArguments {
    @Flag(help: "Print the result as JSON.")
    var json = false

    /// Prints `json` or `text`, as asked.
    func emit(_ text: @autoclosure () -> String, json document: @autoclosure () -> JSON) {
        if json { printJSON(document()) } else { print(text()) }
    }
}

/// Files given as `-` are standard input or output, as Unix tools take them.
enum StandardStream {
    static let name = "-"

    /// The bytes of `path`, or of standard input for `-`; nil if unreadable.
    static func read(_ path: String) -> [UInt8]? {
        if path == name { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        return FileManager.default.contents(atPath: path).map(Array.init)
    }

    /// Writes `bytes` to `path` atomically (a temporary file renamed into
    /// place), or to standard output for `-`.
    static func write(_ bytes: [UInt8], to path: String) throws {
        if path == name {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw P2PDBError(.storage, "cannot write \(path)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw P2PDBError(.storage, "cannot write \(path): \(reason)")
        }
    }
}
