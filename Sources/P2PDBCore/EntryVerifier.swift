import Dispatch

/// Decodes and verifies many entries at once, on every core: signature
/// verification bounds how fast a replica catches up.
public enum EntryVerifier {
    /// The entries in input order; throws for the first one that is
    /// malformed or forged, naming its position.
    public static func verify(_ bodies: [[UInt8]]) throws(P2PDBError) -> [Entry] {
        let results = check(bodies)
        var entries: [Entry] = []
        entries.reserveCapacity(bodies.count)
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let entry): entries.append(entry)
            case .failure(let error): throw P2PDBError(.corrupt, "entry #\(index + 1): \(error)")
            }
        }
        return entries
    }

    /// Each body decoded and verified, or why it is not an entry, in input
    /// order.
    public static func check(_ bodies: [[UInt8]]) -> [Result<Entry, EntryError>] {
        // Every slot is written below; the placeholder is never returned.
        var results = [Result<Entry, EntryError>](repeating: .failure(.invalid("not verified")), count: bodies.count)
        let workers = min(max(1, bodies.count / 64), 8)
        results.withUnsafeMutableBufferPointer { buffer in
            let output = UnsafeSendableBuffer(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var index = worker
                while index < bodies.count {
                    output.buffer[index] = Result { () throws(EntryError) -> Entry in try Entry(bytes: bodies[index]) }
                    index += workers
                }
            }
        }
        return results
    }
}

/// Lets workers of `concurrentPerform` write disjoint slots of one buffer.
private struct UnsafeSendableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
}
