import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOSSL
import P2PDB
import P2PDBSync
import Synchronization

/// The peer transport of `p2pdb serve --listen`: one gRPC bidirectional
/// stream per peer over HTTP/2 and mutually authenticated TLS, each side's
/// certificate bound to its node key (see ``NodeCertificate``).
///
/// ```swift
/// let transport = try GRPCPeerTransport(key: key, listen: ("127.0.0.1", 7071))
/// let engine = SyncEngine(node: node, transport: transport)
/// ```
public final class GRPCPeerTransport: PeerTransport {
    private let identity: NodeCertificate
    private let bind: (host: String, port: Int)?
    private let advertised: String?
    private let logger: Logger
    private let bound = Mutex<String?>(nil)
    /// The endpoint's binding, started once by ``bind()`` or ``run(accept:)``.
    private let endpointTask = Mutex<Task<Result<PeerEndpoint, ListenFailure>, Never>?>(nil)
    private let queueLimit = 1024
    /// How long a TLS handshake may take.
    private let handshakeTimeout: TimeAmount
    /// How long a dial may take from its start to the peer's first frame
    /// (its Hello).
    private let helloTimeout: TimeAmount

    /// - Parameters:
    ///   - listen: where to accept peers; nil for a node that only dials.
    ///   - advertise: the address peers should dial, when it differs from
    ///     the listening one (a wildcard bind, NAT).
    public convenience init(
        key: NodeKey, listen: (host: String, port: Int)?, advertise: String? = nil, logger: Logger = Logger(label: "p2pdb.peer")
    ) throws {
        self.init(identity: try NodeCertificate(key: key), listen: listen, advertise: advertise, logger: logger)
    }

    init(
        identity: NodeCertificate, listen: (host: String, port: Int)?, advertise: String?, logger: Logger,
        handshakeTimeout: TimeAmount = .seconds(10), helloTimeout: TimeAmount = .seconds(10)
    ) {
        self.identity = identity
        self.handshakeTimeout = handshakeTimeout
        self.helloTimeout = helloTimeout
        self.bind = listen
        self.advertised = advertise
        self.logger = logger
    }

    public var listenAddress: String? {
        get async { advertised ?? bound.withLock { $0 } }
    }

    // MARK: Accepting

    /// Binds the peer endpoint now, so that an address that cannot be
    /// bound stops the node before it serves anything; ``run(accept:)``
    /// then serves on it (and binds by itself if this was not called).
    /// Peers that dial in between are refused and dial again.
    public func bind() async throws(ListenFailure) {
        _ = try await endpoint()
    }

    public func run(accept: @escaping @Sendable (any PeerConnection) async -> Void) async throws {
        guard let endpoint = try await endpoint() else {
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
            return
        }
        endpoint.sessions.open(accept)
        try await withTaskCancellationHandler {
            try await endpoint.serving.value
        } onCancel: {
            // Open sessions end, so that the shutdown does not wait for them.
            endpoint.sessions.closeAll()
            endpoint.server.beginGracefulShutdown()
        }
    }

    /// The bound endpoint, bound on first use; nil for a node that only dials.
    private func endpoint() async throws(ListenFailure) -> PeerEndpoint? {
        guard let bind else { return nil }
        let binding = endpointTask.withLock { task in
            if let task { return task }
            let started = Task { await self.listen(on: bind) }
            task = started
            return started
        }
        return try await binding.value.get()
    }

    private func listen(on bind: (host: String, port: Int)) async -> Result<PeerEndpoint, ListenFailure> {
        let identity = self.identity
        let security = HTTP2ServerTransport.Posix.TransportSecurity.tls(
            certificateChain: [.bytes(identity.certificateDER, format: .der)],
            privateKey: .bytes(Array(identity.privateKeyPEM.utf8), format: .pem)
        ) { config in
            config.clientCertificateVerification = .noHostnameVerification
            config.trustRoots = .certificates([])
            config.customVerificationCallback = NodeCertificate.verifier()
        }
        let logger = self.logger
        let handshakeTimeout = self.handshakeTimeout
        let transport = HTTP2ServerTransport.Posix(
            address: bind.host.contains(":") ? .ipv6(host: bind.host, port: bind.port) : .ipv4(host: bind.host, port: bind.port),
            transportSecurity: security,
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = SyncLimits.maximumMessageBytes
                config.connection.keepalive.time = .seconds(10)
                config.connection.keepalive.timeout = .seconds(10)
                // A peer keeps one session stream open; a connection with
                // none is not a peer.
                config.connection.maxIdleTime = .seconds(30)
                config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                    TLSVersionGate.install(on: channel, handshakeTimeout: handshakeTimeout, logger: logger)
                }
            })
        let sessions = InboundSessions()
        let service = PeerService(sessions: sessions, queueLimit: queueLimit, logger: logger)
        let server = GRPCServer(transport: transport, services: [service])
        // The server is stopped by a graceful shutdown, never by cancelling
        // its task: cancelling while an accepted connection waits to be
        // served leaves NIO's writer unfinished, which traps.
        let serving = Task { try await server.serve() }
        let given = bind.host.contains(":") ? "[\(bind.host)]:\(bind.port)" : "\(bind.host):\(bind.port)"
        let address: String
        do {
            let listening = try await transport.listeningAddress
            if let ipv4 = listening.ipv4 {
                address = "\(ipv4.host):\(ipv4.port)"
            } else if let ipv6 = listening.ipv6 {
                address = "[\(ipv6.host)]:\(ipv6.port)"
            } else {
                address = given
            }
        } catch {
            // A server that cannot bind has no address; the reason is the
            // server's own error.
            var reason: any Error = error
            do { try await serving.value } catch { reason = error }
            return .failure(Self.listenFailure(reason, address: given))
        }
        logger.info("peer endpoint listening on \(address) (gRPC, mutual TLS)")
        // A wildcard address means nothing to a peer: tell them only an
        // address they can dial.
        if bind.host == "0.0.0.0" || bind.host == "::" {
            if advertised == nil {
                logger.notice("listening on all interfaces: pass --advertise IP:PORT so that peers can pass this node's address on")
            }
        } else {
            bound.withLock { $0 = address }
        }
        return .success(PeerEndpoint(server: server, serving: serving, sessions: sessions))
    }

    private static func listenFailure(_ error: any Error, address: String) -> ListenFailure {
        if let number = TransportErrors.errno(in: error) {
            return ListenFailure(purpose: "peers", address: address, option: "--listen", errno: number)
        }
        if TransportErrors.chain(error).contains(where: { $0 is SocketAddressError }) {
            return ListenFailure(
                purpose: "peers", address: address, reason: "not an IP address; --listen takes one of this machine's IP addresses, or 0.0.0.0")
        }
        return ListenFailure(purpose: "peers", address: address, reason: "\(error)")
    }

    // MARK: Dialing

    public func connect(to address: String) async throws(DialFailure) -> any PeerConnection {
        let host: String
        let port: Int
        do {
            (host, port) = try Self.parse(address)
        } catch {
            throw .other(error.message)
        }
        let identity = self.identity
        let proven = Mutex<NodeID?>(nil)
        let progress = DialProgress()
        let security = HTTP2ClientTransport.Posix.TransportSecurity.mTLS(
            certificateChain: [.bytes(identity.certificateDER, format: .der)],
            privateKey: .bytes(Array(identity.privateKeyPEM.utf8), format: .pem)
        ) { config in
            config.serverCertificateVerification = .noHostnameVerification
            config.trustRoots = .certificates([])
            config.customVerificationCallback = NodeCertificate.verifier { nodeID in proven.withLock { $0 = nodeID } }
        }
        let target = Self.target(host: host, port: port)
        let hostName = target is ResolvableTargets.DNS ? host : nil
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: target,
                transportSecurity: security,
                config: .defaults { [logger, handshakeTimeout] config in
                    config.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(10), allowWithoutCalls: true)
                    config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                        TLSVersionGate.install(on: channel, handshakeTimeout: handshakeTimeout, logger: logger, progress: progress)
                    }
                    config.backoff.initial = .milliseconds(100)
                    config.backoff.max = .seconds(1)
                })
        } catch {
            throw .other("cannot dial \(address): \(error)")
        }
        let client = GRPCClient(transport: transport)
        // Ends once the client shuts down gracefully (on close or failure).
        Task { try await client.runConnections() }
        let opened = AsyncStream.makeStream(of: Result<GRPCPeerConnection, DialFailure>.self)
        let limit = queueLimit
        let logger = self.logger
        let call = Task {
            var options = CallOptions.defaults
            options.maxResponseMessageBytes = SyncLimits.maximumMessageBytes
            options.maxRequestMessageBytes = SyncLimits.maximumMessageBytes
            options.waitForReady = false
            let peer = P2pdb_Peer_V1_Peer.Client<HTTP2ClientTransport.Posix>(wrapping: client)
            let pending = Mutex<GRPCPeerConnection?>(nil)
            do {
                try await peer.connect(options: options) { writer in
                    // The TLS handshake has run by the time the first
                    // response arrives; wait for the connection object.
                    while pending.withLock({ $0 }) == nil {
                        try await Task.sleep(for: .milliseconds(1))
                    }
                    guard let connection = pending.withLock({ $0 }) else { return }
                    for try await message in connection.outgoing.messages {
                        try await writer.write(FrameCoding.frame(message))
                    }
                } onResponse: { response in
                    var frames = response.messages.makeAsyncIterator()
                    guard let first = try await frames.next() else {
                        opened.continuation.yield(.failure(.notAPeer("it ended the call without a Hello")))
                        return
                    }
                    guard let nodeID = proven.withLock({ $0 }) else {
                        opened.continuation.yield(.failure(.tlsFailed("no node certificate was checked")))
                        return
                    }
                    let connection = GRPCPeerConnection(
                        remoteNodeID: nodeID, remoteAddress: address, isInbound: false, limit: limit,
                        onClose: { client.beginGracefulShutdown() })
                    pending.withLock { $0 = connection }
                    opened.continuation.yield(.success(connection))
                    do {
                        var next: P2pdb_Peer_V1_Frame? = first
                        while let frame = next {
                            if let message = try FrameCoding.message(frame) { try await connection.incoming.send(message) }
                            next = try await frames.next()
                        }
                        connection.incoming.finish()
                    } catch {
                        connection.incoming.finish(throwing: error)
                    }
                    connection.close()
                }
            } catch {
                logger.debug("peer call to \(address) ended: \(error)")
                opened.continuation.yield(.failure(TransportErrors.dialFailure(error, progress: progress, hostName: hostName)))
            }
            pending.withLock { $0 }?.close()
            client.beginGracefulShutdown()
        }
        // The first frame must come soon: a peer that completes TLS and
        // then says nothing does not get to hold a dial forever.
        let timeout = Task {
            try await Task.sleep(for: .nanoseconds(helloTimeout.nanoseconds))
            opened.continuation.yield(.failure(TransportErrors.dialTimeout(progress, after: helloTimeout)))
        }
        defer { timeout.cancel() }
        var iterator = opened.stream.makeAsyncIterator()
        let outcome = await withTaskCancellationHandler {
            await iterator.next() ?? .failure(.other("the dial was cancelled"))
        } onCancel: {
            call.cancel()
        }
        switch outcome {
        case .success(let connection):
            return connection
        case .failure(let failure):
            call.cancel()
            client.beginGracefulShutdown()
            throw failure
        }
    }

    /// IP literals are dialed as such (TLS sends no SNI for them); names
    /// go through DNS.
    private static func target(host: String, port: Int) -> any ResolvableTarget {
        if host.contains(":") { return .ipv6(host: host, port: port) as ResolvableTargets.IPv6 }
        let parts = host.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return .ipv4(host: host, port: port) as ResolvableTargets.IPv4 }
        return .dns(host: host, port: port) as ResolvableTargets.DNS
    }

    static func parse(_ address: String) throws(P2PDBError) -> (String, Int) {
        let host: Substring
        let portText: Substring
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = address[address.index(after: address.startIndex)..<close]
            portText = address[address.index(after: close)...].dropFirst()
        } else if let colon = address.lastIndex(of: ":") {
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        } else {
            throw P2PDBError(.invalidInput, "peer address \(address) is not HOST:PORT")
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            throw P2PDBError(.invalidInput, "peer address \(address) is not HOST:PORT")
        }
        return (String(host), port)
    }
}

/// A bound peer endpoint: its server, the task serving it, and the
/// sessions peers opened on it.
struct PeerEndpoint: Sendable {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let serving: Task<Void, any Error>
    let sessions: InboundSessions
}

/// The server side of `Peer.Connect`: identifies the peer from its TLS
/// certificate and hands the session to the sync engine.
struct PeerService: P2pdb_Peer_V1_Peer.SimpleServiceProtocol {
    let sessions: InboundSessions
    let queueLimit: Int
    let logger: Logger

    func connect(
        request: RPCAsyncSequence<P2pdb_Peer_V1_Frame, any Error>, response: RPCWriter<P2pdb_Peer_V1_Frame>,
        context: ServerContext
    ) async throws {
        guard let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate,
            let nodeID = NodeCertificate.nodeID(of: certificate)
        else {
            logger.warning("refusing a peer at \(context.remotePeer): no certificate bound to a node key")
            throw RPCError(code: .unauthenticated, message: "present a P2PDB node certificate")
        }
        let connection = GRPCPeerConnection(
            remoteNodeID: nodeID, remoteAddress: context.remotePeer, isInbound: true, limit: queueLimit)
        switch sessions.add(connection) {
        case .refused(let reason):
            // A frame the dialing engine reads as a refusal, and records.
            try await response.write(FrameCoding.frame(.refusal(reason)))
        case .admitted(let id, let accept):
            defer { sessions.remove(id) }
            await accept(connection)
            await connection.pump(frames: request) { frame in try await response.write(frame) }
        }
    }
}

/// The sessions peers opened with this node, so that a shutdown can end
/// them all, and where new ones go: nowhere until the engine runs.
final class InboundSessions: Sendable {
    typealias Accept = @Sendable (any PeerConnection) async -> Void

    private struct State {
        var open: [Int: GRPCPeerConnection] = [:]
        var next = 0
        var accept: Accept?
        var closed = false
    }

    enum Admission {
        case admitted(Int, Accept)
        case refused(String)
    }

    private let state = Mutex(State())

    /// Starts handing sessions to `accept`.
    func open(_ accept: @escaping Accept) { state.withLock { $0.accept = accept } }

    func add(_ connection: GRPCPeerConnection) -> Admission {
        state.withLock { state in
            guard !state.closed else { return .refused("shutting down") }
            guard let accept = state.accept else { return .refused("starting; not accepting peers yet") }
            state.next += 1
            state.open[state.next] = connection
            return .admitted(state.next, accept)
        }
    }

    func remove(_ id: Int) { _ = state.withLock { $0.open.removeValue(forKey: id) } }

    func closeAll() {
        let open = state.withLock { state in
            state.closed = true
            return Array(state.open.values)
        }
        for connection in open { connection.close() }
    }
}
