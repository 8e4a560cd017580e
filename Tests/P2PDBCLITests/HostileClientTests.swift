import Foundation
import Testing

/// `p2pdb hostile` against a node of its own, in a process of its own, so
/// that its memory and temporary disk are the node's alone. A short run: the
/// long one and its figures are in docs/RELIABILITY.md.
@Suite("A hostile client against a node")
struct HostileClientTests {
    @Test func theNodeHoldsAgainstTheReviewAttacksAndGeneratedStatements() throws {
        // /healthz is held to a liveness budget here: how fast it answers
        // under attack is the long run's figure, not a test's.
        let output = try p2pdb(
            "hostile", "--statements", "600", "--seed", "7", "--attack-seconds", "1", "--verify-every", "200", "--health-budget", "10000")
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.contains("600 generated statements"), "\(output.stdout)")
        #expect(output.stdout.contains("verify passed 3 times"), "\(output.stdout)")
        #expect(!output.stdout.contains("FAILURE"))
        // Each attack of the review ran, and refused requests were answered.
        for attack in [
            "endless queries", "long function calls", "distinct 4 MiB statements", "endless empty strings", "sorts spilling", "PRAGMAs",
            "subscriptions to endless", "forged and misused tickets",
        ] {
            #expect(output.stdout.contains("attack \(attack)"), "\(attack)")
        }
        // Generated writes made entries, and ordinary clients kept writing.
        let made = output.stdout.firstMatch(of: /(\d+) of them made entries; (\d+) ordinary writes/)
        #expect((made.flatMap { Int($0.1) } ?? 0) > 0, "\(output.stdout)")
        #expect((made.flatMap { Int($0.2) } ?? 0) > 0, "\(output.stdout)")
    }
}
