import Foundation

/// What this process holds right now, from `/proc/self`: resident memory, and
/// the disk taken by files it keeps open after deleting them (SQLite's
/// temporary files are deleted as soon as they are opened).
public enum ProcessResources {
    /// Resident memory (VmRSS), in KiB; 0 where `/proc` is missing.
    public static func residentKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// Disk blocks of the open files that no longer have a name, in bytes.
    public static func deletedOpenFileBytes() -> Int {
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        var total = 0
        for descriptor in descriptors {
            let link = "/proc/self/fd/" + descriptor
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link), target.hasSuffix(" (deleted)") else {
                continue
            }
            var status = stat()
            // stat follows the descriptor's link to the file, named or not.
            if stat(link, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG { total += Int(status.st_blocks) * 512 }
        }
        return total
    }
}
