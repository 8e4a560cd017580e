import Foundation
import P2PDB

/// Decodes entries and checks their signatures on every core: signature
/// checks bound how fast a node catches up.
enum EntryBatchVerifier {
    /// The entries that decode and verify, in their original order, and a
    /// reason for each that does not.
    static func verify(_ bodies: [[UInt8]]) async -> (entries: [Entry], failures: [String]) {
        let chunkCount = bodies.count < 64 ? 1 : min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))
        let chunkSize = (bodies.count + chunkCount - 1) / chunkCount
        let results = await withTaskGroup(of: (Int, [Result<Entry, EntryError>]).self) { group in
            for chunk in 0..<chunkCount {
                let slice = Array(bodies[min(chunk * chunkSize, bodies.count)..<min((chunk + 1) * chunkSize, bodies.count)])
                group.addTask {
                    (chunk, slice.map { body in Result { () throws(EntryError) -> Entry in try Entry(bytes: body) } })
                }
            }
            var ordered = [[Result<Entry, EntryError>]](repeating: [], count: chunkCount)
            for await (chunk, results) in group { ordered[chunk] = results }
            return ordered.flatMap { $0 }
        }
        var entries: [Entry] = []
        var failures: [String] = []
        for result in results {
            switch result {
            case .success(let entry): entries.append(entry)
            case .failure(let error): failures.append(error.description)
            }
        }
        return (entries, failures)
    }
}
