import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run `p2pdb`
/// and `ip`.
///
/// Foundation's `Process.run()` on Linux reads past the end of directory
/// entries while it scans `/proc/self/fd` and now and then crashes the whole
/// test process (swift-corelibs-foundation #5472); this launcher does not
/// scan: every pipe it makes is close-on-exec, so a child inherits only its
/// standard streams.
///
/// ```swift
/// let child = try ChildProcess("/usr/sbin/ip", ["netns", "list"], stdout: .pipe)
/// let listing = child.standardOutput?.readDataToEndOfFile()
/// child.waitUntilExit()
/// ```
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        case null
        case pipe
        /// Appended to this file, which must exist.
        case file(String)
    }

    public enum TerminationReason: Sendable, Equatable {
        case exit
        case uncaughtSignal
    }

    public let processIdentifier: pid_t
    /// The write end of the child's standard input, for `.pipe`.
    public let standardInput: FileHandle?
    /// The read end of the child's standard output, for `.pipe`.
    public let standardOutput: FileHandle?
    /// The read end of the child's standard error, for `.pipe`.
    public let standardError: FileHandle?
    /// The raw `waitpid` status once the child has exited and was reaped.
    private let status = Mutex<Int32?>(nil)

    /// Pipes are made and marked close-on-exec under this lock, and
    /// children spawned under it, so that no child inherits another's pipe
    /// (which would hold that pipe open past its own child's exit).
    private static let spawning = Mutex(())

    public init(
        _ executable: String, _ arguments: [String], stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        let (pid, ends) = try Self.spawning.withLock { _ in
            try Self.spawn(executable, arguments, streams: [stdin, stdout, stderr])
        }
        processIdentifier = pid
        standardInput = ends[0]
        standardOutput = ends[1]
        standardError = ends[2]
    }

    private static func spawn(_ executable: String, _ arguments: [String], streams: [Stream]) throws -> (pid_t, [FileHandle?]) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        var parentEnds: [FileHandle?] = []
        for (target, stream) in zip(Int32(0)...2, streams) {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
                parentEnds.append(nil)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_APPEND, 0)
                parentEnds.append(nil)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard pipe(&fds) == 0 else { throw ChildProcessError("pipe failed: errno \(errno)") }
                for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                let (childEnd, parentEnd) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
                childEnds.append(childEnd)
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
                parentEnds.append(FileHandle(fileDescriptor: parentEnd, closeOnDealloc: true))
            }
        }
        // The test process may block or ignore signals; the child starts clean.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv + [nil], environ)
        guard code == 0 else { throw ChildProcessError("cannot start \(executable): errno \(code)") }
        return (pid, parentEnds)
    }

    public var isRunning: Bool {
        status.withLock { status in
            if status != nil { return false }
            var raw: Int32 = 0
            guard waitpid(processIdentifier, &raw, WNOHANG) == processIdentifier else { return true }
            status = raw
            return false
        }
    }

    public func waitUntilExit() {
        status.withLock { status in
            guard status == nil else { return }
            var raw: Int32 = 0
            while waitpid(processIdentifier, &raw, 0) == -1 && errno == EINTR {}
            status = raw
        }
    }

    public func signal(_ signal: Int32) {
        guard isRunning else { return }
        kill(processIdentifier, signal)
    }

    public func terminate() { signal(SIGTERM) }

    /// Call after ``waitUntilExit()``.
    public var terminationReason: TerminationReason {
        (status.withLock { $0 } ?? 0) & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    /// The exit code, or the signal that ended the child.
    public var terminationStatus: Int32 {
        let raw = status.withLock { $0 } ?? 0
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    /// Runs a command to its end with its output collected.
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> CommandOutput {
        let child = try ChildProcess(executable, arguments, stdin: .pipe, stdout: .pipe, stderr: .pipe)
        if let input { child.standardInput?.write(Data(input.utf8)) }
        try child.standardInput?.close()
        // Both streams are drained at once, or a child filling one pipe
        // while we wait on the other would never finish.
        let errors = Mutex(Data())
        let drained = DispatchSemaphore(value: 0)
        let standardError = child.standardError
        Thread.detachNewThread {
            let data = standardError?.readDataToEndOfFile() ?? Data()
            errors.withLock { $0 = data }
            drained.signal()
        }
        let output = child.standardOutput?.readDataToEndOfFile() ?? Data()
        drained.wait()
        child.waitUntilExit()
        return CommandOutput(
            status: child.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
            stderr: String(decoding: errors.withLock { $0 }, as: UTF8.self))
    }
}

/// What a command printed, and how it ended.
public struct CommandOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
