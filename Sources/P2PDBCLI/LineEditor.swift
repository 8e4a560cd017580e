import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads the shell's lines: on a terminal with libedit's line editing and a
/// persistent history, otherwise (a pipe, a file, no libedit) as plain lines.
///
/// libedit (Debian's `libedit2`, which OpenSSH and LLVM already need) is
/// loaded when the shell starts rather than linked, so that `p2pdb` builds
/// and runs without it; without it a terminal gets plain lines.
///
/// Ctrl-D on an empty line ends the input; Ctrl-U clears the line.
final class LineEditor {
    private typealias ReadLine = @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?
    private typealias HistoryLine = @convention(c) (UnsafePointer<CChar>?) -> Int32
    private typealias HistoryFile = @convention(c) (UnsafePointer<CChar>?) -> Int32
    private typealias Truncate = @convention(c) (UnsafePointer<CChar>?, Int32) -> Int32

    private struct LibEdit {
        let readline: ReadLine
        let addHistory: HistoryLine
        let readHistory: HistoryFile
        let writeHistory: HistoryFile
        let truncateHistory: Truncate
    }

    /// The lines kept in the history file.
    static let historyLength: Int32 = 1000

    private let libedit: LibEdit?
    private let historyPath: String?

    /// - Parameter historyPath: where the history is kept between sessions;
    ///   nil keeps none.
    init(terminal: Bool, historyPath: String?) {
        libedit = terminal ? Self.load() : nil
        self.historyPath = historyPath
        if let libedit, let historyPath { _ = libedit.readHistory(historyPath) }
    }

    /// Whether lines are edited (a terminal with libedit).
    var isEditing: Bool { libedit != nil }

    /// The history file: `P2PDB_HISTORY` (empty: none), else
    /// `~/.p2pdb_history`.
    static var defaultHistoryPath: String? {
        if let path = ProcessInfo.processInfo.environment["P2PDB_HISTORY"] { return path.isEmpty ? nil : path }
        return ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.p2pdb_history" }
    }

    /// The next line, its newline included, or nil at the end of input;
    /// `prompt` is shown when lines are edited.
    func read(prompt: String) -> String? {
        guard let libedit else { return readLine(strippingNewline: false) }
        guard let line = libedit.readline(prompt) else {
            print("")
            return nil
        }
        defer { free(line) }
        let text = String(cString: line)
        if !text.trimmingCharacters(in: .whitespaces).isEmpty {
            _ = libedit.addHistory(line)
            if let historyPath {
                _ = libedit.writeHistory(historyPath)
                _ = libedit.truncateHistory(historyPath, Self.historyLength)
            }
        }
        return text + "\n"
    }

    private static func load() -> LibEdit? {
        guard let handle = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let readline = symbol("readline", as: ReadLine.self), let addHistory = symbol("add_history", as: HistoryLine.self),
            let readHistory = symbol("read_history", as: HistoryFile.self), let writeHistory = symbol("write_history", as: HistoryFile.self),
            let truncateHistory = symbol("history_truncate_file", as: Truncate.self)
        else { return nil }
        return LibEdit(
            readline: readline, addHistory: addHistory, readHistory: readHistory, writeHistory: writeHistory,
            truncateHistory: truncateHistory)
    }
}
