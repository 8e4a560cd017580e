import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Holds a peer connection to TLS 1.3 and to a prompt handshake.
///
/// The gRPC transport builds its own TLS configuration, which accepts
/// TLS 1.2, and waits for a handshake as long as the peer likes. This
/// handler sits right after the TLS handler: it closes the connection if
/// the handshake settles on anything older than TLS 1.3, or has not
/// finished within `handshakeTimeout`, before any application data passes.
/// On a dial it also tells the dial's ``DialProgress`` how far the
/// connection got, and logs at the debug level only: the dial's failure,
/// logged by the engine, says it.
final class TLSVersionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let tls: NIOSSLHandler
    private let handshakeTimeout: TimeAmount
    private let logger: Logger
    private let progress: DialProgress?
    private var admitted = false
    private var timeout: Scheduled<Void>?

    init(tls: NIOSSLHandler, handshakeTimeout: TimeAmount, logger: Logger, progress: DialProgress?) {
        self.tls = tls
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
        self.progress = progress
    }

    private var level: Logger.Level { progress == nil ? .warning : .debug }

    /// Adds a gate behind the channel's TLS handler. Call on the channel's
    /// event loop, while it is being set up.
    /// - Parameter progress: the dial this connection belongs to; nil on
    ///   the accepting side.
    static func install(
        on channel: any Channel, handshakeTimeout: TimeAmount = .seconds(10), logger: Logger, progress: DialProgress? = nil
    ) -> EventLoopFuture<Void> {
        channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            let tls = try operations.handler(type: NIOSSLHandler.self)
            try operations.addHandler(
                TLSVersionGate(tls: tls, handshakeTimeout: handshakeTimeout, logger: logger, progress: progress), position: .after(tls))
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timeout = handshakeTimeout
        let logger = logger
        let level = level
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        // Cancelled on the same event loop when the handshake completes.
        self.timeout = context.eventLoop.scheduleTask(in: timeout) {
            let context = loopBound.value
            logger.log(
                level: level, "peer connection closed: no TLS handshake within \(TransportErrors.describe(timeout))",
                metadata: ["remote": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        progress?.reached(.connected)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timeout?.cancel()
            let version = tls.tlsVersion
            guard version == .tlsv13 else {
                let reason = "it negotiated \(version.map { "\($0)" } ?? "no TLS version"); P2PDB peers speak TLS 1.3 only"
                progress?.closed(because: reason)
                logger.log(
                    level: level, "peer connection refused: \(reason)", metadata: ["remote": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
                context.close(promise: nil)
                return
            }
            progress?.reached(.secured)
            admitted = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing from a connection that has not passed the gate goes on.
        guard admitted else { return }
        context.fireChannelRead(data)
    }
}
