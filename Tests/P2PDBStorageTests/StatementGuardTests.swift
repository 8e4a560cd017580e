import Testing

@testable import P2PDBStorage

@Suite("Statement guard")
struct StatementGuardTests {
    @Test(arguments: [
        ("INSERT INTO t VALUES (1)", true), ("  update t SET v = 1", true), ("Delete FROM t", true),
        ("REPLACE INTO t VALUES (1)", true), ("CREATE TABLE t (id INTEGER PRIMARY KEY)", true), ("ALTER TABLE t ADD COLUMN v", true),
        ("SELECT * FROM t", false), ("WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c", false),
        ("-- a comment\nINSERT INTO t VALUES (1)", false), ("INSERTED", false), ("", false), ("BEGIN; INSERT INTO t VALUES (1); COMMIT", false),
    ] as [(String, Bool)])
    func requestsThatPlainlyWriteSkipTheReader(_ example: (String, Bool)) {
        #expect(StatementGuard.startsWithWrite(example.0) == example.1, "\(example.0)")
    }
}
