import HTTPTypes
import NIOCore
import NIOHTTPTypes
import P2PDB

/// Holds each HTTP connection to the node's connection limit: a connection
/// past it is answered 503 with `Retry-After` to its first request and
/// closed, so that a client opening thousands of sockets cannot take the
/// file descriptors and memory every other client needs.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let limit: ConcurrencyLimit
    private var slot: ConcurrencyLimit.Slot?

    init(limit: ConcurrencyLimit) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        slot = limit.take()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        slot = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard slot == nil else {
            context.fireChannelRead(data)
            return
        }
        guard case .head = unwrapInboundIn(data) else { return }
        let error = APIError(P2PDBError(
            .busy, "the node holds its limit of \(limit.maximum) HTTP connections; retry shortly, or reuse connections (keep-alive)"))
        let body = ByteBuffer(string: error.body.text + "\n")
        let head = HTTPResponse(
            status: error.status,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: "\(body.readableBytes)", .retryAfter: "1",
                .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.close(promise: nil)
    }
}
