import Dispatch

/// Runs CPU-heavy work (parsing a 4 MiB request body, rendering a large
/// result, checking thousands of signatures) on a dispatch thread, while the
/// calling task waits without holding one of Swift's cooperative threads.
///
/// The cooperative pool has one thread per core; two requests that each
/// hold one for a tenth of a second make every other request on the node,
/// `/healthz` included, wait that long. Threads outside the pool are
/// scheduled by the kernel beside it, so short requests keep answering.
/// Each queue runs one piece of work at a time, which bounds how many
/// threads heavy work can take however many clients ask for it.
///
/// ```swift
/// let document = try await ComputeQueue.requests.run { () throws(P2PDBError) in try JSON.parse(bytes) }
/// ```
public struct ComputeQueue: Sendable {
    private let queue: DispatchQueue

    /// Parsing request bodies and rendering responses.
    public static let requests = ComputeQueue(label: "p2pdb.compute.requests")
    /// Checking entries' signatures, from peers and bundles alike (each batch
    /// on every core, see ``EntryVerifier``).
    public static let signatures = ComputeQueue(label: "p2pdb.compute.signatures")

    /// A serial queue named `label` (the name shows in debuggers and traces).
    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// `work`'s result, computed on this queue.
    public func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(E) -> T in try work() }) }
        }
        return try result.get()
    }
}
