import P2PDB
import P2PDBSync
import Synchronization

/// Virtual time for a simulation: the sync engines' monotonic clock and the
/// replicas' wall clock both read it, and only the scheduler moves it.
final class VirtualClock: SyncClock, WallClock {
    private let milliseconds = Mutex<UInt64>(0)
    private let epoch: Int64 = 1_767_225_600_000  // 2026-01-01, for entries' wall time

    var nowMilliseconds: UInt64 { milliseconds.withLock { $0 } }
    func now() -> Int64 { epoch + Int64(nowMilliseconds) }
    func set(_ value: UInt64) { milliseconds.withLock { $0 = max($0, value) } }

    func sleep(milliseconds: UInt64) async throws {
        // The engines never sleep in a simulation: the scheduler drives them.
        throw P2PDBError(.unavailable, "a simulated clock does not sleep")
    }
}

/// One end of a simulated link. What the engine sends is kept in an outbox
/// that the scheduler drains after each step and delivers later, maybe
/// dropped, duplicated, corrupted or out of order.
final class SimulatedConnection: PeerConnection {
    let remoteNodeID: NodeID
    let remoteAddress: String
    let isInbound: Bool
    let link: Int
    /// 0 for the dialing side, 1 for the accepting side.
    let side: Int
    private let outbox = Mutex<[SyncMessage]>([])
    private let closed = Atomic<Bool>(false)
    private let unused = MessageQueue(limit: 1)

    init(remoteNodeID: NodeID, remoteAddress: String, isInbound: Bool, link: Int, side: Int) {
        self.remoteNodeID = remoteNodeID
        self.remoteAddress = remoteAddress
        self.isInbound = isInbound
        self.link = link
        self.side = side
    }

    /// The scheduler delivers messages itself; nothing reads this stream.
    var inbound: MessageQueue.Messages { unused.messages }

    var isClosed: Bool { closed.load(ordering: .relaxed) }

    func send(_ message: SyncMessage) async throws {
        guard offer(message) else { throw P2PDBError(.unavailable, "the simulated link \(link) is closed") }
    }

    func offer(_ message: SyncMessage) -> Bool {
        guard !isClosed else { return false }
        outbox.withLock { $0.append(message) }
        return true
    }

    func close() { closed.store(true, ordering: .relaxed) }

    func drain() -> [SyncMessage] { outbox.withLock { messages in defer { messages = [] }; return messages } }
}

/// A transport that does nothing by itself: the simulation makes
/// connections and delivers messages through ``SyncEngine/handle(_:)``.
struct SimulatedTransport: PeerTransport {
    let address: String

    var listenAddress: String? { address }

    func connect(to address: String) async throws(DialFailure) -> any PeerConnection {
        throw .other("simulated nodes are connected by the scheduler")
    }

    func run(accept: @escaping @Sendable (any PeerConnection) async -> Void) async throws {
        throw P2PDBError(.unavailable, "simulated nodes are driven by the scheduler")
    }
}

/// Events in virtual time, taken in (time, sequence) order: equal times
/// keep the order in which they were scheduled, so a seed replays exactly.
struct EventQueue<Event> {
    private var heap: [(time: UInt64, sequence: Int, event: Event)] = []
    private var sequence = 0

    var isEmpty: Bool { heap.isEmpty }
    var nextTime: UInt64? { heap.first?.time }

    mutating func schedule(_ event: Event, at time: UInt64) {
        sequence += 1
        heap.append((time, sequence, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: UInt64, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, precedes(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.event)
    }

    private func precedes(_ a: (time: UInt64, sequence: Int, event: Event), _ b: (time: UInt64, sequence: Int, event: Event)) -> Bool {
        (a.time, a.sequence) < (b.time, b.sequence)
    }
}
