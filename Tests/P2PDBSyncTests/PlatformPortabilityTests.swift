import Foundation
import P2PDBTestSupport
import Testing

/// The modules an app on Apple platforms embeds use no Linux-only API
/// outside `#if os(Linux)` or `#if canImport(Glibc)`. Nothing here can
/// compile for iOS or macOS, so the sources are read instead: each spelling
/// below exists only in Glibc's Swift overlay or on Linux.
@Suite("Platform portability")
struct PlatformPortabilityTests {
    /// `P2PDBReplication` and everything it depends on in this package.
    static let embeddedModules = ["P2PDBCore", "P2PDBStorage", "P2PDB", "P2PDBSync", "P2PDBPeerGRPC", "P2PDBDiscovery", "P2PDBReplication"]

    static let linuxOnly: [(name: String, pattern: String)] = [
        ("import Glibc/Musl", #"^\s*import\s+(Glibc|Musl)\b"#),
        ("FoundationNetworking (Foundation on Apple platforms)", #"^\s*import\s+FoundationNetworking\b"#),
        ("Glibc's enum types", #"\b__[a-z_]+_t\b"#),
        ("Glibc's socket constants as enums", #"\b(SOCK|IPPROTO|PRIO)_[A-Z]+\.rawValue\b"#),
        ("Linux system calls", #"\b(epoll_[a-z]+|eventfd|timerfd_[a-z]+|inotify_[a-z]+|prctl|gettid|sched_getaffinity)\s*\("#),
        ("/proc", #""/proc/"#),
    ]

    /// Each line that uses a Linux-only spelling outside a Linux-only branch.
    static func unguardedUses(in source: String) -> [(line: Int, name: String)] {
        var branches: [Bool] = []  // whether each enclosing #if branch is Linux-only
        var ifConditions: [String] = []
        var found: [(Int, String)] = []
        for (index, line) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#if ") {
                ifConditions.append(text)
                branches.append(isLinuxOnly(text))
            } else if text.hasPrefix("#elseif "), !branches.isEmpty {
                branches[branches.count - 1] = isLinuxOnly(text)
            } else if text.hasPrefix("#else"), let condition = ifConditions.last {
                // The other branch of an Apple-only condition is Linux's.
                branches[branches.count - 1] = condition.contains("canImport(Darwin)") || condition.contains("os(macOS)")
            } else if text.hasPrefix("#endif"), !branches.isEmpty {
                branches.removeLast()
                ifConditions.removeLast()
            } else if !text.hasPrefix("//"), !branches.contains(true) {
                for (name, pattern) in linuxOnly where text.range(of: pattern, options: .regularExpression) != nil {
                    found.append((index + 1, name))
                }
            }
        }
        return found
    }

    private static func isLinuxOnly(_ condition: String) -> Bool {
        (condition.contains("os(Linux)") || condition.contains("canImport(Glibc)") || condition.contains("canImport(Musl)"))
            && !condition.contains("!os(Linux)") && !condition.contains("!canImport(Glibc)")
    }

    @Test func theEmbeddedModulesGuardEveryLinuxOnlyUse() throws {
        var violations: [String] = []
        var files = 0
        for module in Self.embeddedModules {
            let directory = packageRoot.appendingPathComponent("Sources/\(module)")
            let names = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
            #expect(!names.isEmpty, "no sources found for \(module)")
            for name in names {
                files += 1
                let source = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                for use in Self.unguardedUses(in: source) {
                    violations.append("Sources/\(module)/\(name):\(use.line): \(use.name)")
                }
            }
        }
        #expect(files > 50)
        #expect(violations.isEmpty, "Linux-only API outside #if os(Linux) / canImport(Glibc):\n\(violations.joined(separator: "\n"))")
    }

    @Test func theCheckFindsUnguardedUsesAndAcceptsGuardedOnes() {
        let unguarded = """
            import Glibc
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            let target = "/proc/thread-self"
            #if canImport(Darwin)
            import Darwin
            #else
            import Glibc
            #endif
            """
        #expect(Self.unguardedUses(in: unguarded).map(\.line) == [1, 2, 2, 3])
        let guarded = """
            #if canImport(Glibc)
            import Glibc
            #endif
            #if os(Linux)
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            #elseif os(macOS)
            #endif
            // a comment may name "/proc/thread-self"
            """
        #expect(Self.unguardedUses(in: guarded).isEmpty)
    }
}
