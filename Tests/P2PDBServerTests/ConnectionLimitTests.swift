import Foundation
import P2PDB
import P2PDBServer
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A client holding connections open, half-sending headers or opening
/// feed after feed cannot take what every other client needs: each is
/// bounded, and past the bound the node says 503 with Retry-After.
@Suite("HTTP connection limits")
struct ConnectionLimitTests {
    @Test func connectionsPastTheLimitAreAnswered503AndTheOthersStillServe() async throws {
        let server = try await TestServer { $0.maximumConnections = 2 }
        let held = try (0..<2).map { _ in try RawConnection(port: server.port) }
        // Both held connections are admitted: a whole request on each works.
        for connection in held {
            let reply = try await connection.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply)")
        }
        let third = try RawConnection(port: server.port)
        let refused = try await third.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
        #expect(refused.lowercased().contains("retry-after: 1"))
        #expect(refused.contains("\"busy\""))
        #expect(await third.waitUntilClosed(seconds: 10))
        // Closing one held connection makes room for a new client.
        held[0].close()
        var admitted = false
        for _ in 0..<50 where !admitted {
            let reply = try? await server.request("GET", "/v1/status")
            admitted = reply?.status == 200
            if !admitted { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(admitted)
        try await server.stop()
    }

    @Test func idleConnectionsAndHalfSentHeadersAreClosed() async throws {
        let server = try await TestServer { $0.idleTimeout = .seconds(1) }
        let idle = try RawConnection(port: server.port)
        let halfSent = try RawConnection(port: server.port)
        try halfSent.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        #expect(await idle.waitUntilClosed(seconds: 20))
        #expect(await halfSent.waitUntilClosed(seconds: 20))
        // A connection that keeps asking is served throughout.
        #expect(try await server.request("GET", "/healthz").status == 200)
        try await server.stop()
    }

    @Test func changeFeedSubscribersPastTheLimitAreAnswered503() async throws {
        // A subscriber that left is noticed at the next heartbeat.
        let server = try await TestServer(heartbeat: .milliseconds(200)) { $0.maximumChangeSubscribers = 1 }
        let first = try RawConnection(port: server.port)
        let head = try await first.exchange(
            "GET /v1/changes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.token)\r\n\r\n", until: "retry: 1000")
        #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
        let second = try await server.request("GET", "/v1/changes")
        #expect(second.status == 503)
        #expect(second.headers["retry-after"] == "1")
        #expect(second.json.errorCode == "busy")
        // The slot is given back when the subscriber leaves.
        first.close()
        var resubscribed = false
        for _ in 0..<50 where !resubscribed {
            let again = try RawConnection(port: server.port)
            let reply = try await again.exchange(
                "GET /v1/changes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.token)\r\n\r\n", until: "\r\n\r\n")
            resubscribed = reply.hasPrefix("HTTP/1.1 200")
            again.close()
            if !resubscribed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(resubscribed)
        try await server.stop()
    }
}

/// A TCP connection to the test server on loopback, spoken to byte by byte.
/// Its waits run on a thread of their own: blocking the cooperative pool
/// would also stop the server under test, which shares it.
final class RawConnection: Sendable {
    private let descriptor: Int32
    private let closed = Atomic<Bool>(false)

    init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            Glibc.close(descriptor)
            throw P2PDBError(.unavailable, "cannot connect to 127.0.0.1:\(port)")
        }
        self.descriptor = descriptor
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw P2PDBError(.unavailable, "the connection refused the bytes")
        }
    }

    /// Sends `request` and reads until `marker` arrives, the connection
    /// closes or thirty seconds pass.
    func exchange(_ request: String, until marker: String = "}") async throws -> String {
        try send(request)
        return await offThePool {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                guard let chunk = self.read(timeoutMilliseconds: 200) else { break }
                received += chunk
                if String(decoding: received, as: UTF8.self).contains(marker) { break }
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    /// Whether the server closes the connection within `seconds`.
    func waitUntilClosed(seconds: Double) async -> Bool {
        await offThePool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if self.read(timeoutMilliseconds: 200) == nil { return true }
            }
            return false
        }
    }

    private func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    /// Bytes received, [] if none arrived in time, nil once closed.
    private func read(timeoutMilliseconds: Int32) -> [UInt8]? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        if count < 0 && errno == EINTR { return [] }
        return count > 0 ? Array(buffer[0..<count]) : nil
    }

    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(descriptor)
    }

    deinit { close() }
}
