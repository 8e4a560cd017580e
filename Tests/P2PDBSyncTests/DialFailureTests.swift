import Foundation
import GRPCCore
import Logging
import NIOCore
import P2PDB
import P2PDBSync
import P2PDBTestSupport
import Testing

@testable import P2PDBPeerGRPC

/// What the gRPC transport says when a dial fails, and when its peer
/// endpoint cannot be bound.
@Suite("Dial failures of the gRPC transport")
struct DialFailureTests {
    /// The failure of one dial from a fresh node.
    /// Its deadlines are long unless a test shortens one: on a loaded
    /// machine a dial can take seconds, and a timeout would be the wrong
    /// failure.
    static func failure(dialing address: String, handshakeTimeout: TimeAmount = .seconds(60)) async throws -> DialFailure? {
        let dialer = GRPCPeerTransport(
            identity: try NodeCertificate(key: NodeKey()), listen: nil, advertise: nil, logger: Logger(label: "dialer"),
            handshakeTimeout: handshakeTimeout, helloTimeout: .seconds(60))
        do {
            let connection = try await dialer.connect(to: address)
            connection.close()
            return nil
        } catch {
            return error
        }
    }

    @Test func aClosedPortIsConnectionRefused() async throws {
        let server = try NonPeerServer(.refusing)
        defer { server.stop() }
        #expect(try await Self.failure(dialing: "127.0.0.1:\(server.port)") == .connectionRefused)
    }

    @Test func aPlainHTTPServerIsNotAPeer() async throws {
        let server = try NonPeerServer(.http)
        defer { server.stop() }
        let failure = try await Self.failure(dialing: "127.0.0.1:\(server.port)")
        guard case .notAPeer(let detail)? = failure else {
            Issue.record("expected not a P2PDB peer, got \(String(describing: failure))")
            return
        }
        #expect(detail == "it answered without TLS")
    }

    @Test func aServerThatNeverStartsTLSIsNotAPeer() async throws {
        let server = try NonPeerServer(.silent)
        defer { server.stop() }
        let failure = try await Self.failure(dialing: "127.0.0.1:\(server.port)", handshakeTimeout: .milliseconds(300))
        guard case .notAPeer(let detail)? = failure else {
            Issue.record("expected not a P2PDB peer, got \(String(describing: failure))")
            return
        }
        #expect(detail.contains("did not complete a TLS handshake") || detail.contains("sent no TLS handshake"), "\(detail)")
    }

    @Test func aListenerWhoseCertificateIsNotBoundToItsKeyFailsTLS() async throws {
        let forged = try PeerAuthenticationTests.certificate(claiming: NodeKey().nodeID, signedBy: NodeKey())
        let listener = GRPCPeerTransport(identity: forged, listen: ("127.0.0.1", 0), advertise: nil, logger: Logger(label: "forged"))
        try await listener.bind()
        let serving = Task { try await listener.run { $0.close() } }
        defer { serving.cancel() }
        let address = try #require(await listener.listenAddress)
        #expect(try await Self.failure(dialing: address) == .tlsFailed("its certificate is not bound to a node key"))
    }

    /// As gRPC's resolver reports a name that does not resolve (built by
    /// hand: a real lookup would depend on this machine's DNS).
    @Test func aNameThatDoesNotResolveIsUnreachable() {
        struct LookupError: Error, CustomStringConvertible { var description: String { "Name or service not known" } }
        let error = RPCError(
            code: .unavailable, message: "Failed to resolve server name",
            cause: RPCError(code: .internalError, message: "Couldn't resolve address for shop.invalid:7071", cause: LookupError()))
        #expect(
            TransportErrors.dialFailure(error, progress: DialProgress(), hostName: "shop.invalid")
                == .unreachable("cannot resolve shop.invalid: name or service not known"))
        // The same error for an IP address is not a lookup.
        #expect(TransportErrors.dialFailure(error, progress: DialProgress(), hostName: nil) == .other("\(error)"))
    }

    @Test func anAddressThatIsNotHostAndPortSaysSo() async throws {
        #expect(try await Self.failure(dialing: "no-port-here") == .other("peer address no-port-here is not HOST:PORT"))
    }

    @Test func aTakenPortCannotBeBoundAndSaysWhy() async throws {
        let holder = try GRPCPeerTransport(key: NodeKey(), listen: ("127.0.0.1", 0))
        try await holder.bind()
        let holding = Task { try await holder.run { _ in } }
        defer { holding.cancel() }
        let taken = try #require(await holder.listenAddress)
        let (host, port) = try GRPCPeerTransport.parse(taken)
        let second = try GRPCPeerTransport(key: NodeKey(), listen: (host, port))
        await #expect {
            try await second.bind()
        } throws: { error in
            guard let failure = error as? ListenFailure else { return false }
            return failure.description
                == "cannot listen for peers on \(taken): address already in use; choose another --listen port or stop the process using it"
        }
        // run() reports the same failure rather than serving nothing.
        await #expect(throws: ListenFailure.self) { try await second.run { _ in } }
    }
}
