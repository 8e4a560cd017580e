import P2PDB

/// The invariants after every replica has received every entry: nothing
/// left pending, the same entries, the same tables, columns, indexes and
/// rows (storage class and bits), views and triggers, the same state hash,
/// the same constraint report, `verify` clean, and each replica opening
/// again as it was.
extension SurfaceCase {
    func checkConvergence() async {
        var snapshots: [DatabaseSnapshot?] = []
        for (replica, store) in stores.enumerated() {
            do {
                let pending = try await store.pendingCount()
                if pending > 0 { fail("entries stay pending after full delivery", "r\(replica) holds \(pending)") }
                snapshots.append(try await DatabaseSnapshot.read { sql, parameters in try await store.query(SQLRequest(sql, parameters)).last?.rows ?? [] })
            } catch {
                fail("a replica cannot be read", at: replica, "\(error)")
                snapshots.append(nil)
            }
        }
        let counts = stores.map(\.summary.entryCount)
        if Set(counts).count > 1 {
            fail("replicas hold different entries after full delivery", counts.enumerated().map { "r\($0.offset) \($0.element)" }.joined(separator: ", "))
        }
        var identical = true
        if let first = snapshots.first ?? nil {
            for (replica, snapshot) in snapshots.enumerated().dropFirst() {
                guard let snapshot else { continue }
                for difference in first.differences(from: snapshot, "r0", "r\(replica)", schemaDetail: true) {
                    identical = false
                    fail(difference.kind + " differ between replicas", StoredValue.escaped(difference.detail))
                }
            }
        }
        let hashes = stores.map(\.summary.stateHash)
        if Set(hashes).count > 1 {
            fail(
                identical ? "state hashes differ for identical rows" : "state hashes differ",
                hashes.enumerated().map { "r\($0.offset) \(String($0.element.hex.prefix(12)))" }.joined(separator: ", "))
        }
        await compareConstraintReports()
        for (replica, store) in stores.enumerated() {
            do {
                let verification = try await store.verify()
                if let problem = verification.problems.first {
                    fail("verify fails", at: replica, problem)
                }
            } catch {
                fail("verify throws", at: replica, "\(error)")
            }
        }
        await checkReopening(hashes)
    }

    /// Rows whose references dangle or whose checks fail after the merge:
    /// every replica must report the same.
    private func compareConstraintReports() async {
        var reports: [[String]] = []
        for (replica, store) in stores.enumerated() {
            do {
                reports.append(try await store.constraintProblems().map(\.description).sorted())
            } catch {
                fail("the constraint report fails", at: replica, "\(error)")
                return
            }
        }
        guard let first = reports.first else { return }
        for (replica, report) in reports.enumerated().dropFirst() where report != first {
            fail(
                "constraint reports differ between replicas",
                StoredValue.escaped("r0 [" + first.joined(separator: "; ") + "], r\(replica) [" + report.joined(separator: "; ") + "]"))
        }
        if !first.isEmpty { report.tally.constraintProblems += first.count }
    }

    /// Closes every replica and opens it again: it must open, with the
    /// state it had.
    private func checkReopening(_ hashes: [StateHash]) async {
        for replica in stores.indices {
            do {
                try await stores[replica].close()
                stores[replica] = try openStore(replica)
                if stores[replica].summary.stateHash != hashes[replica] {
                    fail("the state hash changes when a replica is opened again", "r\(replica)")
                }
            } catch {
                fail("a replica cannot be opened again", at: replica, "\(error)")
            }
        }
    }
}
