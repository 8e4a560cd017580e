import GRDB
import P2PDBCore

/// What became of an entry offered to the replica.
public enum ApplyOutcome: Sendable, Equatable {
    /// Stored and merged.
    case applied
    /// Already in the log; nothing changed.
    case duplicate
    /// Verified, but some parents are missing; kept until they arrive.
    case pending
    /// Refused; the reason says why. Nothing was stored.
    case rejected(String)
}

/// Stores entries from other replicas in the log and merges their changes.
///
/// Entries reach this point with their signature verified. Here they are
/// checked against the log (parents present, Lamport clock above the
/// parents', no gap in the author's sequence) and, in a private network,
/// against what their author may do (``NetworkMembership``); equivocations
/// are recorded, and their schema and row changes are merged.
enum EntryApplier {
    /// How far an entry's Lamport clock may run ahead of its parents'.
    static let maximumLamportStep: UInt64 = 1 << 32

    struct Applied {
        var entry: Entry
        var position: Int64
    }

    static func apply(
        _ entry: Entry, _ db: Database, state: inout ReplicaState, now: Int64, maximumPending: Int
    ) throws -> (ApplyOutcome, Applied?) {
        if try LogStore.contains(db, id: entry.id) { return (.duplicate, nil) }
        var parentLamport: UInt64 = 0
        for parent in entry.parents {
            guard let lamport = try LogStore.lamport(db, of: parent) else {
                if try LogStore.isPending(db, id: entry.id) { return (.pending, nil) }
                guard state.pendingCount < maximumPending else {
                    return (
                        .rejected(
                            "its parents are missing and \(state.pendingCount) entries already wait for theirs; send the parents first"),
                        nil
                    )
                }
                try LogStore.addPending(db, entry, receivedAt: now)
                state.pendingCount += 1
                return (.pending, nil)
            }
            parentLamport = max(parentLamport, lamport)
        }
        guard entry.lamport > parentLamport else {
            return (.rejected("Lamport clock \(entry.lamport) does not exceed its parents' (\(parentLamport))"), nil)
        }
        // An honest author writes one past its heads; a clock that leaps far
        // ahead would win every last-writer-wins register from then on.
        guard entry.lamport - parentLamport <= maximumLamportStep else {
            return (
                .rejected("Lamport clock \(entry.lamport) leaps more than \(maximumLamportStep) past its parents' (\(parentLamport))"),
                nil
            )
        }
        if let problem = schemaProblem(entry.payload.schemaChanges) {
            return (.rejected("its schema change cannot be created in SQLite: \(problem)"), nil)
        }
        let past = try NetworkMembers.past(of: entry.parents, db, state: state)
        if let refusal = state.membership?.refusal(of: entry, past: past) { return (.rejected(refusal), nil) }
        let author = try state.authors.index(of: entry.author, db)
        let contiguous = state.authors.contiguousSeq(of: author)
        guard entry.seq <= contiguous + 1 else {
            return (
                .rejected(
                    "sequence number \(entry.seq) skips ahead of its author's \(contiguous): its predecessor is not in its past"),
                nil
            )
        }
        // An author's entries are applied in sequence order, so another
        // entry with this sequence number can only exist below the
        // contiguous mark.
        if entry.seq <= contiguous {
            for existing in try LogStore.ids(db, author: author, seq: entry.seq) where existing != entry.id {
                try LogStore.recordEquivocation(db, author: author, seq: entry.seq, first: existing, second: entry.id)
            }
        }
        let position = try record(entry, author: author, past: past, db, state: &state)
        try merge(entry, position: position, author: author, db, state: &state)
        // The same entry may also wait in pending, parked by an earlier
        // copy that came before its parents.
        if state.pendingCount > 0, try LogStore.isPending(db, id: entry.id) {
            try LogStore.removePending(db, id: entry.id)
            state.pendingCount -= 1
        }
        return (.applied, Applied(entry: entry, position: position))
    }

    /// Adds the entry to the log, the heads and the version vector, and
    /// what it says about members; `past` is its parents' fact vector.
    static func record(_ entry: Entry, author: Int64, past: FactVector, _ db: Database, state: inout ReplicaState) throws -> Int64 {
        let position = try LogStore.insert(db, entry, author: author)
        try NetworkMembers.record(entry, past: past, db, state: &state)
        try LogStore.advanceHeads(db, heads: &state.heads, with: entry)
        if entry.seq == state.authors.contiguousSeq(of: author) + 1 {
            try state.authors.setContiguousSeq(entry.seq, of: author, db)
        }
        state.lamport = max(state.lamport, entry.lamport)
        state.entryCount += 1
        state.lastPosition = position
        return position
    }

    /// Why SQLite would refuse a column these schema changes define, if it
    /// would. The format admits some definitions SQLite does not (a DEFAULT
    /// that is not constant, say); an entry carrying one is refused before
    /// it is stored, on every replica alike, so that creating a table from
    /// the merged schema never fails.
    static func schemaProblem(_ changes: [SchemaChange]) -> String? {
        for change in changes {
            let columns: [P2PDBCore.ColumnDefinition]
            switch change {
            case .createTable(let table): columns = table.columns
            case .addColumn(_, let column): columns = [column]
            case .createIndex, .createObject, .dropObject: columns = []
            }
            for column in columns {
                if let problem = StoredValues.problem(creating: column) { return "column \(column.name): \(problem)" }
            }
        }
        return nil
    }

    /// Merges the entry's schema changes, then its row changes.
    static func merge(_ entry: Entry, position: Int64, author: Int64, _ db: Database, state: inout ReplicaState) throws {
        try state.localRules?.suspend(db)
        var replay = Set<IdentifierKey>()
        if !entry.payload.schemaChanges.isEmpty {
            let before = state.schema
            try recordSchemaChanges(entry.payload.schemaChanges, stamp: entry.stamp, position: position, db, state: &state)
            replay = try SchemaSynchronizer.synchronize(db, from: before, state: &state)
        }
        let stamp = RowMetadata.LocalStamp(lamport: entry.lamport, author: author)
        for changes in entry.payload.tableChanges where !replay.contains(SQLText.key(changes.table)) {
            try RowMerger.apply(changes, stamp: stamp, db, state: &state)
        }
        if !replay.isEmpty { try Replay.tables(replay, db, state: &state) }
    }

    static func recordSchemaChanges(
        _ changes: [SchemaChange], stamp: Stamp, position: Int64, _ db: Database, state: inout ReplicaState
    ) throws {
        try storeSchemaChanges(changes, stamp: stamp, position: position, db)
        for (index, change) in changes.enumerated() {
            state.schema.apply(change, origin: .init(stamp: stamp, change: index))
        }
    }

    /// Applies pending entries whose parents have all arrived, until none is
    /// left. Pending entries are loaded once and indexed by the parents they
    /// wait for, so a long chain that arrived backwards drains in one pass.
    static func drainPending(
        _ db: Database, state: inout ReplicaState, now: Int64, maximumPending: Int
    ) throws -> (applied: [Applied], rejected: [(EntryID, String)]) {
        guard state.pendingCount > 0 else { return ([], []) }
        var waiting: [EntryID: Entry] = [:]
        for body in try LogStore.pendingBodies(db) {
            if let entry = try? Entry(bytes: body, verifySignature: false) { waiting[entry.id] = entry }
        }
        var children: [EntryID: [EntryID]] = [:]
        var ready: [Entry] = []
        for entry in waiting.values {
            var missing = false
            for parent in entry.parents {
                let present = waiting[parent] == nil ? try LogStore.contains(db, id: parent) : false
                guard !present else { continue }
                children[parent, default: []].append(entry.id)
                missing = true
            }
            if !missing { ready.append(entry) }
        }
        var applied: [Applied] = []
        var rejected: [(EntryID, String)] = []
        ready.sort { ($0.lamport, $0.id) > ($1.lamport, $1.id) }
        while let entry = ready.popLast() {
            try LogStore.removePending(db, id: entry.id)
            state.pendingCount -= 1
            waiting[entry.id] = nil
            let (outcome, result) = try apply(entry, db, state: &state, now: now, maximumPending: maximumPending)
            if let result { applied.append(result) }
            if case .rejected(let reason) = outcome { rejected.append((entry.id, reason)) }
            // A duplicate: the same entry also came without waiting, later
            // in the batch that parked it. Its children may be ready too.
            guard outcome == .applied || outcome == .duplicate else { continue }
            for childID in children.removeValue(forKey: entry.id) ?? [] {
                guard let child = waiting[childID],
                    try child.parents.allSatisfy({ try LogStore.contains(db, id: $0) })
                else { continue }
                ready.append(child)
                ready.sort { ($0.lamport, $0.id) > ($1.lamport, $1.id) }
            }
        }
        return (applied, rejected)
    }
}

/// Re-derives tables from the log: after a schema merge that reorders or
/// redefines a table, and when checking a replica with `p2pdb verify`.
enum Replay {
    static func tables(_ keys: Set<IdentifierKey>, _ db: Database, state: inout ReplicaState) throws {
        var position: Int64 = 0
        while true {
            let batch = try LogStore.bodies(db, after: position, limit: 512)
            guard let last = batch.last else { return }
            position = last.0
            for (_, body) in batch {
                let entry = try Entry(bytes: body, verifySignature: false)
                let relevant = entry.payload.tableChanges.filter { keys.contains(SQLText.key($0.table)) }
                guard !relevant.isEmpty, let author = state.authors.indexes[entry.author] else { continue }
                let stamp = RowMetadata.LocalStamp(lamport: entry.lamport, author: author)
                for changes in relevant { try RowMerger.apply(changes, stamp: stamp, db, state: &state) }
            }
        }
    }
}
