import P2PDB
@testable import P2PDBSurface
import Testing

@Suite("SQL surface")
struct SurfaceTests {
    /// 1,000 cases of random SQL over the whole accepted surface, two at a
    /// time; every invariant must hold in every case. Each failure names
    /// the command that replays its case (`p2pdb surface --seed 1 --case C
    /// --verbose`); the first ones also list their steps.
    @Test func aThousandCasesKeepEveryInvariant() async {
        var done = 0
        let summary = await SurfaceRunner.run(SurfaceOptions(seed: 1), cases: 0..<1_000, jobs: 2) { _ in
            done += 1
            if done % 100 == 0 { print("surface: \(done) cases done") }
        }
        print(summary.description)
        for (index, report) in summary.failingCases.enumerated() {
            Issue.record(
                Comment(
                    rawValue: index < 10
                        ? report.failureDescription
                        : "case \(report.caseNumber): " + report.failureKinds.joined(separator: "; ") + "; replay with: \(report.command)"))
        }
        #expect(summary.cases == 1_000)
        #expect(summary.tally.accepted > summary.tally.statements / 2, "most statements should be accepted, or the cases test little")
    }

    @Test func aCaseReplaysExactly() async {
        let first = await SurfaceCase.run(SurfaceOptions(seed: 7, replicas: 3), caseNumber: 11)
        let second = await SurfaceCase.run(SurfaceOptions(seed: 7, replicas: 3), caseNumber: 11)
        #expect(first.transcript == second.transcript)
        #expect(first.tally.statements > 0 && first.tally.entriesDelivered > 0)
    }

    @Test func aFailureNamesTheCommandThatReplaysIt() {
        #expect(SurfaceOptions(seed: 5).command(caseNumber: 9) == "p2pdb surface --seed 5 --case 9 --verbose")
        #expect(
            SurfaceOptions(seed: 5, replicas: 1, statements: 12).command(caseNumber: 9)
                == "p2pdb surface --seed 5 --case 9 --replicas 1 --statements 12 --verbose")
    }

    /// Values compare as SQLite stores them: 1 is not 1.0, -0.0 is not 0.0,
    /// NFC "café" is not NFD "café", a NUL inside text counts.
    @Test func theComparisonIsExact() {
        let pairs: [(Value, Value)] = [
            (.integer(1), .real(1.0)), (.real(-0.0), .real(0.0)), (.text(SurfaceValues.nfc), .text(SurfaceValues.nfd)),
            (.text("a\u{0}b"), .text("a")), (.blob([]), .text("")), (.null, .blob([])),
        ]
        for (left, right) in pairs {
            #expect(StoredValue(left) != StoredValue(right), "\(left) and \(right)")
            let one = DatabaseSnapshot(tables: [.init(name: StoredValue(.text("t")), columns: [], rows: [[StoredValue(left)]])], indexes: [], objects: [])
            let other = DatabaseSnapshot(tables: [.init(name: StoredValue(.text("t")), columns: [], rows: [[StoredValue(right)]])], indexes: [], objects: [])
            #expect(one.differences(from: other, "a", "b", schemaDetail: true).map(\.kind) == ["rows"])
        }
    }

    /// Every value the cases write, written inline as SQL, reads back as
    /// the same value: inlining must not change what a case tests.
    @Test func literalsReadBackExactly() throws {
        let database = try ReferenceDatabase()
        for value in SurfaceValues.all {
            let read = try database.query("SELECT " + SurfaceValues.literal(value), [])
            #expect(read.first.map { $0.map(StoredValue.init) } == [StoredValue(value)], "\(SurfaceValues.literal(value))")
        }
    }
}
