import P2PDBCore

/// One SQL text and its positional parameters. The text may hold several
/// statements separated by semicolons; parameters are consumed in order.
public struct SQLRequest: Sendable, Equatable {
    public var sql: String
    public var parameters: [Value]

    public init(_ sql: String, _ parameters: [Value] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}

/// What one statement returned: rows for a query (or a RETURNING clause),
/// and the number of rows it changed.
public struct StatementResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[Value]]
    public var changes: Int
    public var isQuery: Bool

    public init(columns: [String] = [], rows: [[Value]] = [], changes: Int = 0, isQuery: Bool = false) {
        self.columns = columns
        self.rows = rows
        self.changes = changes
        self.isQuery = isQuery
    }

    /// The bytes the rows cost, as ``StatementLimits/maximumResultBytes``
    /// counts them.
    public var resultCost: Int { rows.reduce(0) { $0 + StatementLimits.resultCost(ofRow: $1) } }
}

extension StatementResult {
    /// The rows decoded into `type`, by column name: see ``RowDecoder``.
    ///
    /// ```swift
    /// let items = try await store.query(SQLRequest("SELECT * FROM items")).last?.decode(Item.self) ?? []
    /// ```
    public func decode<Record: Decodable>(_ type: Record.Type) throws(P2PDBError) -> [Record] {
        try RowDecoder().decode(type, columns: columns, rows: rows)
    }
}

/// What a transaction returned: a result per statement, and the entry that
/// records its writes (nil when it wrote nothing).
public struct TransactionResult: Sendable, Equatable {
    public var results: [StatementResult]
    public var entry: EntryID?

    public init(results: [StatementResult], entry: EntryID?) {
        self.results = results
        self.entry = entry
    }

    public var changes: Int { results.reduce(0) { $0 + $1.changes } }

    /// The bytes the rows cost, as ``StatementLimits/maximumResultBytes``
    /// counts them.
    public var resultCost: Int { results.reduce(0) { $0 + $1.resultCost } }
    /// The last statement that returned rows, if any.
    public var lastQuery: StatementResult? { results.last { $0.isQuery } }
}

/// An entry that the replica stored and merged, with its position in the
/// local log (the order in which it arrived).
public struct AppliedEntry: Sendable, Equatable {
    public var position: Int64
    public var entry: Entry
}

/// How many entries of a batch were applied, already held, waiting for
/// parents, or refused.
public struct ApplyReport: Sendable, Equatable {
    public var applied = 0
    public var duplicates = 0
    public var pending = 0
    public var rejected: [(EntryID, String)] = []

    public static func == (lhs: ApplyReport, rhs: ApplyReport) -> Bool {
        lhs.applied == rhs.applied && lhs.duplicates == rhs.duplicates && lhs.pending == rhs.pending
            && lhs.rejected.map(\.0) == rhs.rejected.map(\.0)
    }

    public init() {}
}

/// Durability of acknowledged writes.
public enum Durability: String, Sendable, CaseIterable {
    /// Every commit waits for an fsync (`synchronous=FULL`): an
    /// acknowledged write survives power loss. The default.
    case full
    /// No fsync per commit (`synchronous=NORMAL`): survives a crash of the
    /// process, may lose the last commits on power loss.
    case normal
    /// No fsync at all (`synchronous=OFF`): for tests and throwaway data.
    case off

    var pragmaValue: String { rawValue.uppercased() }
}

/// How to open a replica file.
public struct StoreOptions: Sendable {
    public var durability: Durability
    public var clock: any WallClock
    /// The most transactions committed together under one fsync.
    public var maximumBatch: Int
    /// Verified entries kept while they wait for missing parents.
    public var maximumPending: Int
    /// The largest entry a local transaction may produce: peers must be
    /// able to carry it in one message.
    public var maximumEntryBytes: Int
    /// How long a client request may run and how much it may return.
    public var limits: StatementLimits
    /// The private network the replica belongs to; nil for the one it
    /// already belongs to, or open mode for a new replica. A replica that
    /// belongs to a network keeps to it for life.
    public var network: NetworkID?
    /// This node's credential in that network, carried by its first entry;
    /// without one, local writes are refused.
    public var credential: Credential?

    public init(
        durability: Durability = .full, clock: any WallClock = SystemClock(), maximumBatch: Int = 256,
        maximumPending: Int = 100_000, maximumEntryBytes: Int = 8 << 20, limits: StatementLimits = StatementLimits()
    ) {
        self.durability = durability
        self.clock = clock
        self.maximumBatch = maximumBatch
        self.maximumPending = maximumPending
        self.maximumEntryBytes = maximumEntryBytes
        self.limits = limits
    }
}
