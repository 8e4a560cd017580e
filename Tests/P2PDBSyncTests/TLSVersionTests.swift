import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import P2PDB
import P2PDBSync
import Synchronization
import Testing

@testable import P2PDBPeerGRPC

/// Peers speak TLS 1.3 only, and a connection that does not finish its
/// handshake promptly is closed.
@Suite("TLS version and handshake limits of the peer transport")
struct TLSVersionTests {
    /// What a raw TLS client saw of the connection.
    final class Observations: Sendable {
        struct Seen {
            var version: TLSVersion?
            var bytes = 0
            var closed = false
        }
        let seen = Mutex(Seen())
    }

    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let observations: Observations
        init(_ observations: Observations) { self.observations = observations }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event {
                let version = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).tlsVersion
                observations.seen.withLock { $0.version = version }
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let count = unwrapInboundIn(data).readableBytes
            observations.seen.withLock { $0.bytes += count }
        }

        func channelInactive(context: ChannelHandlerContext) {
            observations.seen.withLock { $0.closed = true }
            context.fireChannelInactive()
        }
    }

    /// A listening transport on a free loopback port.
    struct Listener {
        let task: Task<Void, any Error>
        let port: Int

        init(handshakeTimeout: TimeAmount = .seconds(10), logs: LogCapture = LogCapture()) async throws {
            let transport = GRPCPeerTransport(
                identity: try NodeCertificate(key: NodeKey()), listen: ("127.0.0.1", 0), advertise: nil, logger: logs.logger("listener"),
                handshakeTimeout: handshakeTimeout)
            task = Task { try await transport.run { connection in connection.close() } }
            var bound: String?
            for _ in 0..<200 where bound == nil {
                bound = await transport.listenAddress
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            port = try #require(bound.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } })
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    /// Connects with a genuine node certificate, offering TLS up to `maximum`.
    static func connect(port: Int, maximum: TLSVersion?) async throws -> (any Channel, Observations) {
        let identity = try NodeCertificate(key: NodeKey())
        let observations = Observations()
        let bootstrap: ClientBootstrap
        if let maximum {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.maximumTLSVersion = maximum
            configuration.certificateVerification = .none
            configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: identity.certificateDER, format: .der))]
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
            configuration.applicationProtocols = ["h2"]
            let context = try NIOSSLContext(configuration: configuration)
            bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(Recorder(observations))
                }
            }
        } else {
            bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Recorder(observations)) }
            }
        }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        return (channel, observations)
    }

    static func waitUntilClosed(_ observations: Observations, within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if observations.seen.withLock({ $0.closed }) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func aPeerOfferingOnlyTLS12IsRefusedAndOneOnTLS13IsServed() async throws {
        let logs = LogCapture()
        let listener = try await Listener(logs: logs)
        let (old, refused) = try await Self.connect(port: listener.port, maximum: .tlsv12)
        #expect(try await Self.waitUntilClosed(refused, within: .seconds(30)))
        #expect(refused.seen.withLock { $0.bytes } == 0, "the listener sent application data over TLS 1.2")
        #expect(logs.contains("TLS 1.3 only"))
        old.close(promise: nil)

        let (current, served) = try await Self.connect(port: listener.port, maximum: .tlsv13)
        try await Task.sleep(for: .milliseconds(500))
        #expect(served.seen.withLock { $0.version } == .tlsv13)
        #expect(served.seen.withLock { $0.bytes } > 0, "no HTTP/2 settings from the listener")
        #expect(!served.seen.withLock { $0.closed })
        current.close(promise: nil)
        await listener.stop()
    }

    @Test func aDialerRefusesAListenerThatOnlySpeaksTLS12() async throws {
        let identity = try NodeCertificate(key: NodeKey())
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: identity.certificateDER, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)))
        configuration.maximumTLSVersion = .tlsv12
        configuration.certificateVerification = .none
        configuration.applicationProtocols = ["grpc-exp", "h2"]
        let context = try NIOSSLContext(configuration: configuration)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let logs = LogCapture()
        let dialer = GRPCPeerTransport(
            identity: try NodeCertificate(key: NodeKey()), listen: nil, advertise: nil, logger: logs.logger("dialer"))
        // The dial fails saying why; the gate's own line is for the debug log.
        let failure = await PeerAuthenticationTests.failure(of: dialer, dialing: "127.0.0.1:\(port)")
        #expect(failure == .tlsFailed("it negotiated tlsv12; P2PDB peers speak TLS 1.3 only"))
        #expect(logs.contains("debug peer connection refused: it negotiated tlsv12"), "\(logs.lines.withLock { $0 })")
        try await server.close()
    }

    @Test func aConnectionThatNeverStartsItsHandshakeIsClosed() async throws {
        let logs = LogCapture()
        let listener = try await Listener(handshakeTimeout: .milliseconds(500), logs: logs)
        let (silent, observations) = try await Self.connect(port: listener.port, maximum: nil)
        // The bound only keeps a connection left open from passing: timers
        // fire late on a machine busy with the whole suite.
        #expect(try await Self.waitUntilClosed(observations, within: .seconds(30)))
        #expect(logs.contains("no TLS handshake"))
        silent.close(promise: nil)
        await listener.stop()
    }
}
