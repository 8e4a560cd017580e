import Logging
import NIOCore
import NIOPosix
import P2PDB

/// Finds P2PDB nodes on the LAN with mDNS/DNS-SD (RFC 6762, RFC 6763) and
/// announces this one, as service `_p2pdb._tcp.local`.
///
/// The node announces a PTR, an SRV (its peer port), a TXT record with its
/// node ID and an A record (its peer address); it asks for the service at
/// start and every `queryInterval`, and answers others' queries. What it
/// learns is only an address to dial: identity is still proven by the TLS
/// handshake, so a forged announcement can cost a failed dial, nothing more.
///
/// Opt-in (`p2pdb serve --mdns`): it sends multicast on the LAN.
public struct MDNSDiscovery: Sendable {
    public static let serviceType = "_p2pdb._tcp.local"
    static let group = "224.0.0.251"
    static let port = 5353

    let nodeID: NodeID
    /// The IPv4 address and port this node accepts peers on.
    let address: [UInt8]
    let peerPort: UInt16
    let queryInterval: Duration
    let logger: Logger
    let discovered: @Sendable (String, NodeID) async -> Void

    /// - Parameter advertise: `host:port` of the peer endpoint; the host must
    ///   be an IPv4 address (the interface to announce on).
    public init(
        nodeID: NodeID, advertise: String, queryInterval: Duration = .seconds(10), logger: Logger,
        discovered: @escaping @Sendable (String, NodeID) async -> Void
    ) throws {
        guard let colon = advertise.lastIndex(of: ":"), let port = UInt16(advertise[advertise.index(after: colon)...]) else {
            throw P2PDBError(.invalidInput, "--mdns needs the peer address as IPV4:PORT; got \(advertise)")
        }
        let octets = advertise[..<colon].split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4, octets != [0, 0, 0, 0] else {
            throw P2PDBError(
                .invalidInput,
                "--mdns needs a concrete IPv4 address to announce (listen on it, or pass --advertise IP:PORT); got \(advertise)")
        }
        self.nodeID = nodeID
        self.address = octets
        self.peerPort = port
        self.queryInterval = queryInterval
        self.logger = logger
        self.discovered = discovered
    }

    var instanceName: String { "p2pdb-\(nodeID.hex.prefix(16)).\(Self.serviceType)" }
    var hostName: String { "p2pdb-\(nodeID.hex.prefix(16)).local" }

    /// Joins the multicast group on the interface that holds the announced
    /// address, then answers, announces and browses until cancelled.
    public func run() async throws {
        let interfaceAddress = address.map(String.init).joined(separator: ".")
        let device = try System.enumerateDevices().first { device in
            if case .v4(let v4)? = device.address { return v4.host == interfaceAddress }
            return false
        }
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "0.0.0.0", port: Self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let groupAddress = try SocketAddress(ipAddress: Self.group, port: Self.port)
        if let multicast = channel.channel as? any MulticastChannel {
            try await multicast.joinGroup(groupAddress, device: device).get()
        }
        if let options = channel.channel as? any SocketOptionProvider {
            var interface = in_addr()
            // In network byte order, whatever the host's.
            interface.s_addr = UInt32(
                bigEndian: UInt32(address[0]) << 24 | UInt32(address[1]) << 16 | UInt32(address[2]) << 8 | UInt32(address[3]))
            try await options.setIPMulticastIF(interface).get()
            try await options.setIPMulticastTTL(255).get()
        }
        logger.info("mDNS: announcing \(instanceName) on \(interfaceAddress):\(peerPort)")
        try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Announce twice at start (RFC 6762 section 8.3), then
                    // query and announce periodically.
                    var round = 0
                    do {
                        while !Task.isCancelled {
                            try await outbound.write(envelope(announcement(), to: groupAddress))
                            try await outbound.write(envelope(query(), to: groupAddress))
                            round += 1
                            try await Task.sleep(for: round < 2 ? .seconds(1) : queryInterval)
                        }
                    } catch is CancellationError {}
                    // A goodbye (RFC 6762 section 10.1): records with TTL 0
                    // tell the others to forget this node now.
                    try? await outbound.write(envelope(announcement(ttl: 0), to: groupAddress))
                }
                for try await datagram in inbound {
                    var buffer = datagram.data
                    guard let bytes = buffer.readBytes(length: buffer.readableBytes),
                        let message = try? DNSMessage(decoding: bytes)
                    else { continue }
                    if !message.isResponse {
                        if message.questions.contains(where: { asksForService($0) }) {
                            try await outbound.write(envelope(announcement(), to: groupAddress))
                        }
                    } else {
                        for (peer, id) in peers(in: message) where id != nodeID {
                            await discovered(peer, id)
                        }
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func asksForService(_ question: DNSMessage.Question) -> Bool {
        question.name.lowercased() == Self.serviceType
            && (question.type == DNSMessage.RecordType.ptr.rawValue || question.type == DNSMessage.RecordType.any.rawValue)
    }

    func query() -> DNSMessage {
        DNSMessage(isResponse: false, questions: [DNSMessage.Question(name: Self.serviceType, type: DNSMessage.RecordType.ptr.rawValue)])
    }

    /// This node's records; `ttl: 0` makes them a goodbye.
    package func announcement(ttl: UInt32 = 120) -> DNSMessage {
        DNSMessage(
            isResponse: true,
            answers: [
                DNSMessage.Record(name: Self.serviceType, ttl: ttl, data: .ptr(instanceName)),
                DNSMessage.Record(name: instanceName, ttl: ttl, data: .srv(priority: 0, weight: 0, port: peerPort, target: hostName)),
                DNSMessage.Record(name: instanceName, ttl: ttl, data: .txt(["id=\(nodeID.hex)", "v=1"])),
                DNSMessage.Record(name: hostName, ttl: ttl, data: .a(address)),
            ])
    }

    /// Peer addresses announced in a response: each service instance with
    /// its SRV port, the A record of its host and the node ID of its TXT.
    func peers(in message: DNSMessage) -> [(String, NodeID)] {
        var hosts: [String: [UInt8]] = [:]
        var services: [String: (port: UInt16, target: String)] = [:]
        var ids: [String: NodeID] = [:]
        // Records with TTL 0 say goodbye: nothing to dial.
        for record in message.answers where record.ttl > 0 {
            let name = record.name.lowercased()
            switch record.data {
            case .a(let address): hosts[name] = address
            case .srv(_, _, let port, let target) where name.hasSuffix(Self.serviceType): services[name] = (port, target.lowercased())
            case .txt(let strings) where name.hasSuffix(Self.serviceType):
                for string in strings where string.hasPrefix("id=") { ids[name] = NodeID(hex: String(string.dropFirst(3))) }
            default: break
            }
        }
        return services.compactMap { name, service in
            guard let address = hosts[service.target], let id = ids[name] else { return nil }
            return ("\(address.map(String.init).joined(separator: ".")):\(service.port)", id)
        }
    }

    private func envelope(_ message: DNSMessage, to address: SocketAddress) -> AddressedEnvelope<ByteBuffer> {
        AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: message.encoded()))
    }
}
