import P2PDB

/// Which session each recently received entry came from, so that gossip
/// does not push an entry back to its sender and does not push entries that
/// arrived as a pull reply. Bounded: the oldest are forgotten first.
struct EntryOrigins {
    struct Origin {
        var session: ObjectIdentifier
        var viaPull: Bool
    }

    private var origins: [EntryID: Origin] = [:]
    private var order: [EntryID] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    mutating func record(_ id: EntryID, session: ObjectIdentifier, viaPull: Bool) {
        if origins.updateValue(Origin(session: session, viaPull: viaPull), forKey: id) == nil { order.append(id) }
        if order.count - head > capacity {
            origins[order[head]] = nil
            head += 1
        }
        if head > capacity {
            order.removeFirst(head)
            head = 0
        }
    }

    mutating func take(_ id: EntryID) -> Origin? { origins.removeValue(forKey: id) }
}
