import Foundation
import P2PDB
import P2PDBDiscovery
import P2PDBPeerGRPC
import P2PDBServer
import P2PDBSync

/// A seeded mutation fuzzer for everything P2PDB decodes from outside:
/// entries, bundles, peer frames, HTTP request bodies, mDNS packets.
///
/// The `signed` target goes further than decoding: each mutated entry is
/// signed again by its author's key, as a hostile author holding a valid
/// key would, and applied to a real replica, which must refuse it or merge
/// it and, at the end, still pass `verify`.
///
/// Inputs start from a corpus of valid examples and are mutated (bits
/// flipped, bytes inserted, removed or repeated, cut short, spliced with
/// other inputs). Every input must decode or fail with an error: a crash
/// ends the process (and the run), a slow input is reported as a hang, and
/// memory is sampled to catch leaks. The same seed gives the same inputs.
///
/// ```swift
/// var fuzzer = try Fuzzer(target: .entry, seed: 1)
/// let report = try await fuzzer.run(iterations: 1_000_000)
/// ```
public struct Fuzzer {
    public enum Target: String, CaseIterable, Sendable {
        case entry, bundle, frame, http, dns, signed
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
        /// For `signed`: what `verify` found wrong with the replica at the end.
        public var replicaProblems: [String] = []
        /// With `verifyEach`: the replica's log, in order, up to and
        /// including the first entry after which `verify` failed.
        public var failingLog: [[UInt8]] = []

        public var isClean: Bool { hangs.isEmpty && replicaProblems.isEmpty }

        public var description: String {
            "\(target.rawValue): \(inputs) inputs in \(String(format: "%.1f", seconds)) s (\(accepted) accepted, \(rejected) rejected), "
                + "slowest \(String(format: "%.2f", slowest)) ms, memory growth \(memoryGrowth) KiB, \(hangs.count) hangs"
                + (target == .signed ? ", replica \(replicaProblems.first ?? "verified")" : "")
        }
    }

    public let target: Target
    private var random: SeededRandomSource
    private var corpus: [[UInt8]]
    /// An input slower than this is a hang.
    public var hangMilliseconds: Double = 1_000
    /// For `signed`: verify the replica after every accepted entry and stop
    /// at the first that breaks it, keeping the log that reproduces it.
    public var verifyEach = false

    public init(target: Target, seed: UInt64, corpus: [[UInt8]]? = nil) throws {
        self.target = target
        random = SeededRandomSource(seed: seed)
        self.corpus = try corpus ?? FuzzCorpus.seeds(for: target)
        self.seed = seed
    }

    private let seed: UInt64

    /// Runs `iterations` mutated inputs through the target's decoder.
    public mutating func run(iterations: Int) async throws -> Report {
        var report = Report(target: target, seed: seed)
        let started = ContinuousClock.now
        let memoryBefore = ProcessResources.residentKilobytes()
        let replica = target == .signed ? try ScratchReplica() : nil
        for iteration in 0..<iterations {
            // Decoding never suspends: let the rest of the process run.
            if iteration % 256 == 255 { await Task.yield() }
            var input = mutate(corpus[Int(random.next() % UInt64(corpus.count))])
            // Half the bundles get a valid checksum again, so that mutations
            // reach the entry decoder behind it.
            if target == .bundle, random.next() % 2 == 0 { input = Self.resealed(input) }
            if target == .signed { input = try Self.signedAgain(input) }
            let start = ContinuousClock.now
            let accepted = if let replica { await replica.accepts(input) } else { Self.decode(input, as: target) }
            let elapsed = milliseconds(ContinuousClock.now - start)
            report.inputs += 1
            if accepted {
                report.accepted += 1
                // Inputs that still decode are good material for mutation.
                if corpus.count < 512 && iteration % 7 == 0 { corpus.append(input) }
            } else {
                report.rejected += 1
            }
            if accepted, let replica, verifyEach {
                let problems = try await replica.problems()
                if !problems.isEmpty {
                    report.replicaProblems = problems
                    report.failingLog = try await replica.log()
                    break
                }
            }
            report.slowest = max(report.slowest, elapsed)
            if elapsed > hangMilliseconds { report.hangs.append(input) }
        }
        report.memoryGrowth = max(0, ProcessResources.residentKilobytes() - memoryBefore)
        report.seconds = milliseconds(ContinuousClock.now - started) / 1000
        if let replica {
            let problems = try await replica.finish()
            if report.replicaProblems.isEmpty { report.replicaProblems = problems }
        }
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
        case .signed:
            return (try? Entry(bytes: input)) != nil
        }
    }

    /// An entry's bytes with the corpus author in the author field and a
    /// valid signature by that author over whatever the rest now says.
    static func signedAgain(_ input: [UInt8]) throws -> [UInt8] {
        let authorField = (EntryCodec.magic.count + 1)..<(EntryCodec.magic.count + 1 + Bytes32.byteCount)
        guard input.count >= authorField.upperBound + EntryCodec.signatureSize else { return input }
        let key = try FuzzCorpus.key()
        var body = Array(input.dropLast(EntryCodec.signatureSize))
        body.replaceSubrange(authorField, with: key.nodeID.raw.bytes)
        return body + key.sign(body)
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
}
