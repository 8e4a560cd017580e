import Foundation
import P2PDB
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A Server-Sent Events client for tests: connects, parses events as they
/// arrive, and can drop the connection like a client that went away.
final class EventStreamClient: NSObject, URLSessionDataDelegate, Sendable {
    struct Event: Equatable {
        var id: String?
        /// The `event:` name; nil for the default, `message`.
        var name: String? = nil
        var data: String
        var json: JSON? { try? JSON.parse(data) }
    }

    private let chunks: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let status = Mutex<Int?>(nil)
    private let session = Mutex<URLSession?>(nil)
    private let buffer = Mutex<[UInt8]>([])
    private let parsed = Mutex<[Event]>([])
    private let raw = Mutex<[UInt8]>([])

    /// Everything received so far, comments included.
    var received: String { String(decoding: raw.withLock { $0 }, as: UTF8.self) }

    /// - Parameter token: nil for no `Authorization` header, as a browser's
    ///   `EventSource` sends.
    init(url: URL, token: String?, lastEventID: String? = nil) {
        (chunks, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        super.init()
        var request = URLRequest(url: url)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        if let lastEventID { request.setValue(lastEventID, forHTTPHeaderField: "Last-Event-ID") }
        request.timeoutInterval = 60
        let session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        self.session.withLock { $0 = session }
        session.dataTask(with: request).resume()
        let chunks = self.chunks
        Task { [weak self] in
            for await chunk in chunks { self?.parse(chunk) }
        }
    }

    var httpStatus: Int? { status.withLock { $0 } }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        status.withLock { $0 = (response as? HTTPURLResponse)?.statusCode }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        continuation.yield(Array(data))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        continuation.finish()
    }

    /// The next `count` events, or fewer if `timeout` passes first.
    func events(_ count: Int, timeout: Duration = .seconds(10)) async -> [Event] {
        let deadline = ContinuousClock.now + timeout
        while parsed.withLock({ $0.count }) < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return parsed.withLock { events in
            let taken = Array(events.prefix(count))
            events.removeFirst(taken.count)
            return taken
        }
    }

    private func parse(_ chunk: [UInt8]) {
        raw.withLock { $0 += chunk }
        let complete: [String] = buffer.withLock { buffer in
            buffer += chunk
            var blocks: [String] = []
            while let end = Self.blockEnd(buffer) {
                blocks.append(String(decoding: buffer[..<end], as: UTF8.self))
                buffer.removeFirst(end + 2)
            }
            return blocks
        }
        for block in complete {
            var event = Event(id: nil, data: "")
            var hasData = false
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event.name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") {
                    event.data += (hasData ? "\n" : "") + line.dropFirst(6)
                    hasData = true
                }
            }
            if hasData { parsed.withLock { $0.append(event) } }
        }
    }

    private static func blockEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 10 && bytes[index + 1] == 10 { return index }
        return nil
    }

    /// Drops the connection, as a client that crashed or lost its network.
    func close() {
        session.withLock { $0?.invalidateAndCancel() }
        continuation.finish()
    }
}
