import Foundation
import GRPCCore
import NIOCore
import NIOSSL
import P2PDB
import P2PDBSync
import Synchronization

/// How far one dial got, as its channel sees it: the TCP connection, the
/// TLS handshake, and why the version gate closed it. Errors alone do not
/// tell a port where something silent listens from one where a peer is
/// slow: the stage reached does.
final class DialProgress: Sendable {
    enum Stage: Int, Comparable {
        case dialing, connected, secured

        static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private let state = Mutex<(stage: Stage, closedBecause: String?)>((.dialing, nil))

    var stage: Stage { state.withLock { $0.stage } }
    /// Why the version gate closed the connection, if it did.
    var closedBecause: String? { state.withLock { $0.closedBecause } }

    func reached(_ stage: Stage) { state.withLock { $0.stage = max($0.stage, stage) } }
    func closed(because reason: String) { state.withLock { $0.closedBecause = reason } }
}

/// What the transport's errors mean: socket errors from NIO, TLS errors
/// from BoringSSL through NIOSSL, and the statuses and runtime errors gRPC
/// wraps them in; for a dial, in the words of ``DialFailure``.
enum TransportErrors {
    /// The error and the causes it wraps, outermost first.
    static func chain(_ error: any Error) -> [any Error] {
        var chain: [any Error] = []
        var next: (any Error)? = error
        while let current = next, chain.count < 16 {
            chain.append(current)
            switch current {
            case let status as RPCError: next = status.cause
            case let runtime as RuntimeError: next = runtime.cause
            default: next = nil
            }
        }
        return chain
    }

    /// The operating system's error number behind an error, if any.
    static func errno(in error: any Error) -> Int32? {
        chain(error).lazy.compactMap { ($0 as? IOError)?.errnoCode }.first
    }

    /// - Parameter hostName: the host dialed, if it is a name rather than an
    ///   IP address: gRPC's resolver reports a name that does not resolve as
    ///   an internal error before any connection.
    static func dialFailure(_ error: any Error, progress: DialProgress, hostName: String?) -> DialFailure {
        if let reason = progress.closedBecause { return .tlsFailed(reason) }
        if let number = errno(in: error), let failure = socketFailure(number) { return failure }
        let causes = chain(error)
        if let hostName, progress.stage == .dialing, causes.contains(where: { ($0 as? RPCError)?.code == .internalError }) {
            return .unreachable("cannot resolve \(hostName)" + (causes.last.map { ": \($0)".lowercased() } ?? ""))
        }
        for cause in causes {
            if case ChannelError.connectTimeout(let after) = cause {
                return .timedOut("no TCP connection within \(describe(after))")
            }
            if cause is NIOSSLError || cause is BoringSSLError { return tlsFailure(cause) }
            if let status = cause as? RPCError, status.cause == nil, let failure = statusFailure(status) { return failure }
        }
        return stageFailure(progress.stage) ?? .other("\(error)")
    }

    /// No Hello by the dial's deadline: how far the dial got says whether
    /// anything that speaks TLS is there.
    static func dialTimeout(_ progress: DialProgress, after timeout: TimeAmount) -> DialFailure {
        if let reason = progress.closedBecause { return .tlsFailed(reason) }
        let within = describe(timeout)
        switch progress.stage {
        case .dialing: return .timedOut("no TCP connection within \(within)")
        case .connected: return .notAPeer("it accepted the TCP connection but sent no TLS handshake within \(within)")
        case .secured: return .timedOut("TLS completed but no Hello came within \(within)")
        }
    }

    /// `10 s`, or `300 ms` below a second.
    static func describe(_ time: TimeAmount) -> String {
        time.nanoseconds >= 1_000_000_000 ? "\(time.nanoseconds / 1_000_000_000) s" : "\(time.nanoseconds / 1_000_000) ms"
    }

    private static func socketFailure(_ number: Int32) -> DialFailure? {
        switch number {
        case ECONNREFUSED: return .connectionRefused
        case ETIMEDOUT: return .timedOut("no TCP connection (the host does not answer)")
        case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN: return .unreachable(String(cString: strerror(number)).lowercased())
        case ECONNRESET, EPIPE: return .notAPeer("it reset the connection during the TLS handshake")
        default: return nil
        }
    }

    /// BoringSSL's reason code, the capitals after `OPENSSL_internal:` in
    /// its error text: `WRONG_VERSION_NUMBER` when the other side does not
    /// speak TLS at all, `CERTIFICATE_VERIFY_FAILED` when this node's
    /// check of the peer's certificate failed, `..._ALERT_...` when the
    /// peer ended the handshake.
    private static func tlsFailure(_ error: any Error) -> DialFailure {
        if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl {
            return .notAPeer("it closed the connection during the TLS handshake")
        }
        guard let code = reasonCode(in: "\(error)") else { return .tlsFailed("\(error)") }
        switch code {
        case "WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG": return .notAPeer("it answered without TLS")
        case "CERTIFICATE_VERIFY_FAILED": return .tlsFailed("its certificate is not bound to a node key")
        case "NO_APPLICATION_PROTOCOL": return .notAPeer("it does not offer HTTP/2 over TLS")
        default:
            let words = { (text: Substring) in text.lowercased().replacingOccurrences(of: "_", with: " ") }
            guard let alert = code.range(of: "ALERT_") else { return .tlsFailed(words(code[...])) }
            return .tlsFailed("the peer ended the handshake (alert: \(words(code[alert.upperBound...])))")
        }
    }

    private static func reasonCode(in text: String) -> String? {
        guard let start = text.range(of: "OPENSSL_internal:")?.upperBound else { return nil }
        let code = text[start...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
        return code.isEmpty ? nil : String(code)
    }

    /// A status the other side sent (one without a local cause).
    private static func statusFailure(_ status: RPCError) -> DialFailure? {
        switch status.code {
        case .unimplemented: return .notAPeer("it speaks gRPC but not the P2PDB peer protocol")
        case .unauthenticated: return .tlsFailed("it did not accept this node's certificate: \(status.message)")
        default: return nil
        }
    }

    /// A connection that ended without an error that says why: what it
    /// got to tells.
    private static func stageFailure(_ stage: DialProgress.Stage) -> DialFailure? {
        switch stage {
        case .dialing: return nil
        case .connected: return .notAPeer("it accepted the TCP connection but did not complete a TLS handshake")
        case .secured: return .notAPeer("it completed TLS but did not answer the P2PDB peer protocol")
        }
    }
}
