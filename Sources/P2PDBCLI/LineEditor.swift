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
/// Ctrl-D on an empty line ends the input; Ctrl-U clears the line; Ctrl-C
/// drops it (see ``ShellInterrupt``).
final class LineEditor {
    enum Input: Equatable {
        /// A line, its newline included.
        case line(String)
        /// Ctrl-C: the line typed so far is dropped.
        case interrupted
        /// The end of the input (Ctrl-D).
        case end
    }

    private typealias ReadLine = @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?
    private typealias HistoryLine = @convention(c) (UnsafePointer<CChar>?) -> Int32
    private typealias HistoryFile = @convention(c) (UnsafePointer<CChar>?) -> Int32
    private typealias Truncate = @convention(c) (UnsafePointer<CChar>?, Int32) -> Int32
    private typealias ReadKey = @convention(c) (UnsafeMutablePointer<FILE>?) -> Int32

    /// Reads one character of standard input for libedit, as a Unicode
    /// scalar (libedit takes the number as its wide character). Ctrl-C
    /// ends the line being edited as the end of input does, and
    /// ``read(prompt:)`` tells the two apart; libedit's own reading would
    /// take up the interrupted read again.
    private static let readKey: ReadKey = { _ in
        func byte() -> UInt8? {
            var byte: UInt8 = 0
            while true {
                let count = Glibc.read(STDIN_FILENO, &byte, 1)
                if count == 1 { return byte }
                guard count < 0, errno == EINTR, !ShellInterrupt.isPending else { return nil }
            }
        }
        guard let first = byte() else { return EOF }
        let length = first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 1
        var bytes = [first]
        while bytes.count < length, let next = byte() { bytes.append(next) }
        return Int32(String(decoding: bytes, as: UTF8.self).unicodeScalars.first?.value ?? UInt32(first))
    }

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

    /// The next line; `prompt` is shown when lines are edited.
    func read(prompt: String) -> Input {
        guard let libedit else {
            return ShellInterrupt.reading { readLine(strippingNewline: false) }.map(Input.line) ?? (ShellInterrupt.take() ? .interrupted : .end)
        }
        let read = ShellInterrupt.reading { libedit.readline(prompt) }
        // Ctrl-C ends libedit's line as the end of input would, with or without what was typed.
        if ShellInterrupt.take() {
            free(read)
            print("")
            return .interrupted
        }
        guard let line = read else {
            print("")
            return .end
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
        return .line(text + "\n")
    }

    private static func load() -> LibEdit? {
        guard let handle = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL) else { return nil }
        // libedit edits characters of the C library's locale; SQL is UTF-8.
        setlocale(LC_CTYPE, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" { setlocale(LC_CTYPE, "C.UTF-8") }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let readline = symbol("readline", as: ReadLine.self), let addHistory = symbol("add_history", as: HistoryLine.self),
            let readHistory = symbol("read_history", as: HistoryFile.self), let writeHistory = symbol("write_history", as: HistoryFile.self),
            let truncateHistory = symbol("history_truncate_file", as: Truncate.self)
        else { return nil }
        // Ctrl-C is the shell's (ShellInterrupt): libedit's own handler would
        // pass the signal on to the whole process group, and libedit reads
        // again after one interrupted read.
        guard let catchSignals = dlsym(handle, "rl_catch_signals"), let getc = dlsym(handle, "rl_getc_function") else { return nil }
        catchSignals.assumingMemoryBound(to: Int32.self).pointee = 0
        getc.assumingMemoryBound(to: ReadKey.self).pointee = readKey
        return LibEdit(
            readline: readline, addHistory: addHistory, readHistory: readHistory, writeHistory: writeHistory,
            truncateHistory: truncateHistory)
    }
}
