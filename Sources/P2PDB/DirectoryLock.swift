import Foundation
import P2PDBCore
import Synchronization

/// An exclusive lock on a data directory, so that only one process writes
/// a replica at a time. Held until released or the process exits.
public final class DirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    /// Takes the lock, or fails at once if another process holds it.
    public init(_ directory: DataDirectory) throws {
        // Not through a symlink: a planted one would have the PID written
        // into whatever file it names.
        let descriptor = open(directory.lockURL.path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw P2PDBError(.storage, "cannot open \(directory.lockURL.path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw P2PDBError(
                .locked,
                "\(directory.path) is in use by another p2pdb process (pid \(holder)); sql, status, log, verify, check, export, import, backup and the network commands go through a running node, the others need it stopped")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock; later calls do nothing.
    func release() {
        guard let descriptor = descriptor.withLock({ value in defer { value = nil }; return value }) else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    deinit { release() }
}
