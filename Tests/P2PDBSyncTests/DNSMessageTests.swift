import P2PDB
import Testing

@testable import P2PDBDiscovery

@Suite("mDNS messages")
struct DNSMessageTests {
    let discovery = try! MDNSDiscovery(nodeID: NodeKey().nodeID, advertise: "10.1.2.3:7071", logger: .init(label: "test")) { _, _ in }

    @Test func announcementsRoundTripAndNameThePeer() throws {
        let announcement = discovery.announcement()
        let decoded = try DNSMessage(decoding: announcement.encoded())
        #expect(decoded == announcement)
        let peers = discovery.peers(in: decoded)
        #expect(peers.count == 1)
        #expect(peers.first?.0 == "10.1.2.3:7071")
        #expect(peers.first?.1 == discovery.nodeID)
        // A goodbye names nobody to dial.
        #expect(discovery.peers(in: try DNSMessage(decoding: discovery.announcement(ttl: 0).encoded())).isEmpty)
    }

    @Test func compressedNamesAreFollowed() throws {
        // A response in the style of other responders: the SRV target and
        // the A record name point back into the packet.
        var bytes: [UInt8] = [0, 0, 0x84, 0, 0, 0, 0, 2, 0, 0, 0, 0]
        let hostOffset = bytes.count
        bytes += [4] + Array("host".utf8) + [5] + Array("local".utf8) + [0]
        bytes += [0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 9]
        bytes += [0xC0, UInt8(hostOffset)]  // the same name again, by pointer
        bytes += [0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 10]
        let message = try DNSMessage(decoding: bytes)
        #expect(message.answers.map(\.name) == ["host.local", "host.local"])
        #expect(message.answers.last?.data == .a([192, 168, 1, 10]))
    }

    @Test func malformedPacketsAreErrorsNotCrashes() {
        let valid = discovery.announcement().encoded()
        var rejected = 0
        for cut in 0..<valid.count {
            if (try? DNSMessage(decoding: Array(valid[..<cut]))) == nil { rejected += 1 }
        }
        #expect(rejected == valid.count)
        // A pointer to itself, a pointer forwards, a label past the end.
        let loops: [[UInt8]] = [
            [0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 12, 0, 1],
            [0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 40, 0, 12, 0, 1],
            [0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 1, 2],
        ]
        for packet in loops { #expect(throws: DNSMessage.DecodingError.self) { try DNSMessage(decoding: packet) } }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let garbage = (0..<Int.random(in: 0..<200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? DNSMessage(decoding: garbage)
        }
    }

    @Test func onlyConcreteIPv4AddressesAreAnnounced() {
        for address in ["0.0.0.0:7071", "localhost:7071", "10.0.0.1", "[::1]:7071"] {
            #expect(throws: P2PDBError.self) {
                _ = try MDNSDiscovery(nodeID: NodeKey().nodeID, advertise: address, logger: .init(label: "test")) { _, _ in }
            }
        }
    }
}
