import Foundation
import P2PDB
import P2PDBDiscovery
import P2PDBPeerGRPC
import P2PDBServer
import P2PDBSync

/// A seeded mutation fuzzer for everything P2PDB decodes from outside:
/// entries, bundles, peer frames, HTTP request bodies, mDNS packets.
///
/// Inputs start from a corpus of valid examples and are mutated (bits
/// flipped, bytes inserted, removed or repeated, cut short, spliced with
/// other inputs). Every input must decode or fail with an error: a crash
/// ends the process (and the run), a slow input is reported as a hang, and
/// memory is sampled to catch leaks. The same seed gives the same inputs.
///
/// ```swift
/// let report = try Fuzzer(target: .entry, seed: 1).run(iterations: 1_000_000)
/// ```
public struct Fuzzer {
    public enum Target: String, CaseIterable, Sendable {
        case entry, bundle, frame, http, dns
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var target: Target
        public var seed: UInt64
        public var inputs = 0
        public var accepted = 0
        public var rejected = 0
        /// The slowest single input, in milliseconds.
        public var slowest: Double = 0
        /// Resident memory growth over the run, in kilobytes.
        public var memoryGrowth = 0
        public var seconds: Double = 0
        public var hangs: [[UInt8]] = []

        public var description: String {
            "\(target.rawValue): \(inputs) inputs in \(String(format: "%.1f", seconds)) s (\(accepted) accepted, \(rejected) rejected), "
                + "slowest \(String(format: "%.2f", slowest)) ms, memory growth \(memoryGrowth) KiB, \(hangs.count) hangs"
        }
    }

    public let target: Target
    private var random: SeededRandomSource
    private var corpus: [[UInt8]]
    /// An input slower than this is a hang.
    public var hangMilliseconds: Double = 1_000

    public init(target: Target, seed: UInt64, corpus: [[UInt8]]? = nil) throws {
        self.target = target
        random = SeededRandomSource(seed: seed)
        self.corpus = try corpus ?? FuzzCorpus.seeds(for: target)
        self.seed = seed
    }

    private let seed: UInt64

    /// Runs `iterations` mutated inputs through the target's decoder.
    public mutating func run(iterations: Int) -> Report {
        var report = Report(target: target, seed: seed)
        let started = ContinuousClock.now
        let memoryBefore = Self.residentKilobytes()
        for iteration in 0..<iterations {
            var input = mutate(corpus[Int(random.next() % UInt64(corpus.count))])
            // Half the bundles get a valid checksum again, so that mutations
            // reach the entry decoder behind it.
            if target == .bundle, random.next() % 2 == 0 { input = Self.resealed(input) }
            let start = ContinuousClock.now
            let accepted = Self.decode(input, as: target)
            let elapsed = milliseconds(ContinuousClock.now - start)
            report.inputs += 1
            if accepted {
                report.accepted += 1
                // Inputs that still decode are good material for mutation.
                if corpus.count < 512 && iteration % 7 == 0 { corpus.append(input) }
            } else {
                report.rejected += 1
            }
            report.slowest = max(report.slowest, elapsed)
            if elapsed > hangMilliseconds { report.hangs.append(input) }
        }
        report.memoryGrowth = max(0, Self.residentKilobytes() - memoryBefore)
        report.seconds = milliseconds(ContinuousClock.now - started) / 1000
        return report
    }

    /// Feeds one input to the decoder; true if it was accepted.
    public static func decode(_ input: [UInt8], as target: Target) -> Bool {
        switch target {
        case .entry:
            return (try? Entry(bytes: input)) != nil
        case .bundle:
            guard let bodies = try? BundleCodec.decode(input) else { return false }
            return (try? EntryVerifier.verify(bodies)) != nil
        case .frame:
            return (try? FrameCoding.decode(input)) != nil
        case .http:
            guard let json = try? RequestDecoding.document(input) else { return false }
            if json["statements"] != nil { return (try? RequestDecoding.transaction(json)) != nil }
            return (try? RequestDecoding.statement(json)) != nil
        case .dns:
            return (try? DNSMessage(decoding: input)) != nil
        }
    }

    private mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        let rounds = 1 + Int(random.next() % 4)
        for _ in 0..<rounds {
            switch random.next() % 8 {
            case 0 where !bytes.isEmpty:
                let index = Int(random.next() % UInt64(bytes.count))
                bytes[index] ^= UInt8(1) << UInt8(random.next() % 8)
            case 1 where !bytes.isEmpty:
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            case 2:
                let index = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
                let count = 1 + Int(random.next() % 8)
                bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: index)
            case 3 where !bytes.isEmpty:
                let index = Int(random.next() % UInt64(bytes.count))
                let count = min(bytes.count - index, 1 + Int(random.next() % 16))
                bytes.removeSubrange(index..<(index + count))
            case 4 where !bytes.isEmpty:
                bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count))))
            case 5 where !bytes.isEmpty:
                let index = Int(random.next() % UInt64(bytes.count))
                let count = min(bytes.count - index, 1 + Int(random.next() % 32))
                bytes.insert(contentsOf: bytes[index..<(index + count)], at: Int(random.next() % UInt64(bytes.count + 1)))
            case 6:
                let other = corpus[Int(random.next() % UInt64(corpus.count))]
                let cut = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
                let from = other.isEmpty ? 0 : Int(random.next() % UInt64(other.count))
                bytes = Array(bytes.prefix(cut)) + other[from...]
            default:
                // Interesting numbers where lengths and counts live.
                if !bytes.isEmpty {
                    let index = Int(random.next() % UInt64(bytes.count))
                    bytes[index] = [0x00, 0x01, 0x7F, 0x80, 0xFF][Int(random.next() % 5)]
                }
            }
        }
        return bytes
    }

    /// A bundle whose trailing SHA-256 matches its body again.
    static func resealed(_ bundle: [UInt8]) -> [UInt8] {
        guard bundle.count > Bytes32.byteCount else { return bundle }
        let body = Array(bundle.dropLast(Bytes32.byteCount))
        var sealed = body
        Signatures.sha256(body).appendBytes(to: &sealed)
        return sealed
    }

    private func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func residentKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }
}
