/// The settings of a run that shape its cases. A case is fully determined
/// by these and its number.
public struct SurfaceOptions: Sendable, Equatable {
    public var seed: UInt64
    /// Writing replicas per case; nil for 1 to 4 at random. One writer
    /// makes a differential case against plain SQLite.
    public var replicas: Int?
    /// Statements per case; nil for 10 to 40 at random.
    public var statements: Int?

    public init(seed: UInt64 = 1, replicas: Int? = nil, statements: Int? = nil) {
        self.seed = seed
        self.replicas = replicas
        self.statements = statements
    }

    /// The command that runs exactly case `caseNumber` again, verbosely.
    public func command(caseNumber: UInt64) -> String {
        var parts = ["p2pdb surface --seed \(seed) --case \(caseNumber)"]
        if let replicas { parts.append("--replicas \(replicas)") }
        if let statements { parts.append("--statements \(statements)") }
        parts.append("--verbose")
        return parts.joined(separator: " ")
    }
}
