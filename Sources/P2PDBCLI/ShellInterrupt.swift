import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C in the interactive shell: it cancels the line being typed, or
/// stops the statement running, and the shell goes on.
///
/// The handler only sets a flag. The signal goes to whichever thread the
/// kernel picks, so the handler passes it on to the thread waiting for a
/// key, whose `read` then fails with `EINTR` (the handler is installed
/// without `SA_RESTART`) and ends the line (``LineEditor``).
enum ShellInterrupt {
    private static let pending = Atomic<Bool>(false)
    /// The thread blocked reading a line (its `pthread_t`), or 0.
    private static let reader = Atomic<UInt>(0)

    /// Takes over SIGINT for the rest of the process.
    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            let waiting = ShellInterrupt.reader.load(ordering: .sequentiallyConsistent)
            if waiting != 0, waiting != UInt(pthread_self()) {
                pthread_kill(pthread_t(waiting), SIGINT)
            } else {
                ShellInterrupt.pending.store(true, ordering: .sequentiallyConsistent)
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }

    /// Whether Ctrl-C was pressed and not yet taken.
    static var isPending: Bool { pending.load(ordering: .sequentiallyConsistent) }

    /// Whether Ctrl-C was pressed since the last call.
    static func take() -> Bool {
        pending.exchange(false, ordering: .sequentiallyConsistent)
    }

    /// Runs a blocking line read on this thread, where Ctrl-C interrupts it.
    static func reading<T>(_ read: () -> T) -> T {
        // The thread may be one of the runtime's, which block signals.
        var interrupt = sigset_t(), previous = sigset_t()
        sigemptyset(&interrupt)
        sigaddset(&interrupt, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &interrupt, &previous)
        reader.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
        defer {
            reader.store(0, ordering: .sequentiallyConsistent)
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return read()
    }

    /// Runs `work` until it ends or Ctrl-C is pressed; then cancels it and
    /// waits for it to stop (a read stops at once; a write already sent
    /// may still complete, and its result is shown).
    static func interruptible<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        _ = take()
        let task = Task { try await work() }
        let watcher = Task {
            while !Task.isCancelled {
                if take() {
                    task.cancel()
                    return
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { watcher.cancel() }
        return try await task.value
    }
}
