import Foundation
import P2PDBCore

/// Files that hold secrets (the node key, API tokens, the network key) or
/// what a node is trusted with (its credential): written so that only their
/// owner may read them, and read only if no other user could read or change
/// them: others could act as the node, or hand themselves a token.
public enum PrivateFile {
    /// Writes `contents` to `path` with mode 0600, through a temporary file
    /// and a rename, so that a crash leaves either no file or the whole
    /// file. The temporary file is made new (`O_EXCL`, `O_NOFOLLOW`): a
    /// symlink planted under its name cannot redirect the key elsewhere.
    public static func write(_ contents: String, to path: String) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw P2PDBError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        fchmod(descriptor, 0o600)
        let bytes = Array(contents.utf8)
        let written = Foundation.write(descriptor, bytes, bytes.count) == bytes.count && fsync(descriptor) == 0
        close(descriptor)
        guard written, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw P2PDBError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let directoryDescriptor = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Creates the empty file `path`, mode 0600, failing if anything is
    /// there already: a file that will receive secrets (a backup) is private
    /// before the first byte goes in.
    public static func createEmpty(_ path: String) throws(P2PDBError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw P2PDBError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
    }

    /// Creates the file `path`, mode 0600, holding `contents`, failing if
    /// anything is there already.
    public static func create(_ path: String, contents: Data) throws(P2PDBError) {
        try createEmpty(path)
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.write(contentsOf: contents)
            try handle.synchronize()
            try handle.close()
        } catch {
            unlink(path)
            throw P2PDBError(.storage, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The JSON document in the file at `path`, which need not be private
    /// (a network descriptor copied from a USB stick); `what` names it in
    /// errors.
    public static func readJSON(_ path: String, what: String) throws -> JSON {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw P2PDBError(.invalidInput, "cannot read the \(what) \(path)")
        }
        do {
            return try JSON.parse(Array(data))
        } catch {
            throw P2PDBError(.invalidInput, "the \(what) \(path) is not JSON: \(error.message)")
        }
    }

    /// Checks the file at `path`, if there is one, without following a
    /// symlink: in the data directory a symlink would be a planted one.
    ///
    /// - Parameter contents: what the file holds, for the error message.
    static func checkIfPresent(_ path: String, holding contents: String) throws(P2PDBError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        try check(status, path, holding: contents)
    }

    /// Reads the file at `path` as text once it passes the check. The check
    /// looks at the file opened, not at its name, so the file cannot be
    /// swapped in between; a symlink the user named is followed.
    ///
    /// - Parameter contents: what the file holds, for the error messages.
    public static func read(_ path: String, holding contents: String) throws(P2PDBError) -> String {
        // Non-blocking, so that a FIFO is refused by the check instead of
        // waiting for a writer.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw P2PDBError(.invalidInput, "cannot read \(path), which should hold \(contents): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw P2PDBError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        try check(status, path, holding: contents)
        let data: Data?
        do {
            data = try handle.readToEnd()
        } catch {
            throw P2PDBError(.storage, "cannot read \(path): \(error.localizedDescription)")
        }
        guard let text = String(data: data ?? Data(), encoding: .utf8) else {
            throw P2PDBError(.invalidInput, "\(path) is not UTF-8 text; it should hold \(contents)")
        }
        return text
    }

    private static func check(_ status: stat, _ path: String, holding contents: String) throws(P2PDBError) {
        guard status.st_mode & S_IFMT == S_IFREG, status.st_uid == geteuid() else {
            throw P2PDBError(.refused, "\(path) is not a plain file of this user; it holds \(contents), so replace it with a file of your own")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw P2PDBError(
                .refused, "\(path) holds \(contents) and other users can read or change it; run `chmod 600 \(path)`")
        }
    }
}
