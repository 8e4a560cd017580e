import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on a loopback port that is not a P2PDB peer, for tests of
/// how a dial to something else is reported.
///
/// ```swift
/// let server = try NonPeerServer(.http)
/// defer { server.stop() }
/// // dial "127.0.0.1:\(server.port)"
/// ```
public final class NonPeerServer: Sendable {
    public enum Behaviour: Sendable {
        /// Reads what comes and answers as a plain HTTP server answers
        /// bytes it cannot parse (400), then closes.
        case http
        /// Accepts and says nothing, holding the connection open.
        case silent
        /// Holds the port without listening, so that a dial is refused and
        /// no other test can take the port meanwhile.
        case refusing
    }

    public let port: Int
    private let listener: Int32
    private let held = Mutex<[Int32]>([])

    public init(_ behaviour: Behaviour) throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = listener
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && (behaviour == .refusing || listen(descriptor, 16) == 0)
                    && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        guard behaviour != .refusing else { return }
        // The thread keeps the server until `stop()` ends its accept loop.
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(descriptor, nil, nil)
                guard client >= 0 else { return }
                switch behaviour {
                case .silent:
                    held.withLock { $0.append(client) }
                case .refusing:
                    close(client)
                case .http:
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = read(client, &buffer, buffer.count)
                    let answer = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                    _ = write(client, answer, answer.count)
                    close(client)
                }
            }
        }
    }

    /// Stops accepting and closes every connection held.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for client in held.withLock({ clients in defer { clients = [] }; return clients }) { close(client) }
    }
}
