import P2PDB

/// Moving entries between the replicas of a case, the ways P2PDB moves
/// them: exported bundles, bundles of chosen entries, and `apply` as peer
/// replication calls it (each entry alone) or all or nothing. Every entry
/// is validly signed, so every import must succeed.
extension SurfaceCase {
    func deliver(_ delivery: Delivery) async {
        let source = stores[delivery.from]
        let target = stores[delivery.to]
        var random = CaseRandom(stream: delivery.stream)
        let route = "deliver r\(delivery.from) → r\(delivery.to) by \(delivery.mode.rawValue)" + (delivery.everything ? "" : ", a part")
        let entries: [Entry]
        var exported: [UInt8]?
        do {
            if delivery.mode == .exportedBundle {
                let bundle = try await source.exportBundle(since: delivery.everything ? nil : target.summary.versionVector)
                exported = bundle.bytes
                entries = try BundleCodec.decode(bundle.bytes).map { try Entry(bytes: $0, verifySignature: false) }
            } else {
                entries = choose(from: try await source.entries(after: 0, limit: .max).map(\.entry), everything: delivery.everything, &random)
            }
        } catch {
            note(route)
            fail("the source's entries cannot be read", at: delivery.from, "\(error)")
            return
        }
        report.tally.entriesDelivered += entries.count
        note(route + ": " + (entries.isEmpty ? "nothing" : entries.map(label).joined(separator: " ")))
        do {
            let applied: ApplyReport
            switch delivery.mode {
            case .exportedBundle, .chosenBundle: applied = try await target.importBundle(exported ?? BundleCodec.encode(entries.map(\.bytes)))
            case .peer: applied = try await target.apply(entries, atomic: false)
            case .atomic: applied = try await target.apply(entries, atomic: true)
            }
            note(
                "    → applied \(applied.applied), duplicates \(applied.duplicates), pending \(applied.pending)"
                    + (applied.rejected.isEmpty ? "" : ", rejected \(applied.rejected.count)"))
            for (id, reason) in applied.rejected {
                fail("a validly signed entry is rejected", at: delivery.to, "\(label(id, in: entries)): " + reason)
            }
        } catch {
            let kind = delivery.mode == .exportedBundle || delivery.mode == .chosenBundle ? "importBundle throws" : "apply throws"
            fail(kind, at: delivery.to, "\(error)")
        }
    }

    /// All entries in log order, or a part; shuffled now and then, some
    /// sent twice.
    private func choose(from entries: [Entry], everything: Bool, _ random: inout CaseRandom) -> [Entry] {
        var chosen = everything ? entries : entries.filter { _ in random.chance(0.5) }
        if random.chance(everything ? 0.3 : 0.5) { chosen.shuffle(using: &random) }
        if random.chance(0.2) {
            let repeated = chosen.filter { _ in random.chance(0.3) }
            for entry in repeated { chosen.insert(entry, at: random.below(chosen.count + 1)) }
        }
        return chosen
    }

    /// `r1.3`: replica 1's third entry.
    func label(_ entry: Entry) -> String {
        // Replicas that share a key share their labels: `r0|r3.1`.
        let authors = keys.indices.filter { keys[$0].nodeID == entry.author }.map { "r\($0)" }
        let author = authors.isEmpty ? entry.author.short : authors.joined(separator: "|")
        return "\(author).\(entry.seq)"
    }

    private func label(_ id: EntryID, in entries: [Entry]) -> String {
        entries.first { $0.id == id }.map(label) ?? id.short
    }
}
