import Foundation
import P2PDBCore

/// Files only their owner may read: keys, tokens, credentials.
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

    /// The JSON document in the file at `path`; `what` names it in errors.
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
}
