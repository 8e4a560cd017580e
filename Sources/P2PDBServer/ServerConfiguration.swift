import P2PDB

/// How `p2pdb serve` exposes a node over HTTP.
///
/// ```swift
/// var configuration = ServerConfiguration(apiToken: try directory.apiToken())
/// configuration.port = 0          // any free port; see NodeServer.onListening
/// configuration.additionalTokens = [APIToken(reportingToken, role: .readOnly)]
/// ```
public struct ServerConfiguration: Sendable {
    /// The address the HTTP API binds to. Loopback by default: exposing the
    /// API beyond the machine is an explicit choice.
    public var host: String
    public var port: Int
    /// The node's own bearer token, with the admin role. Every endpoint but
    /// `/healthz` requires a token.
    public var apiToken: String
    /// More tokens, each with its role (`serve --api-tokens FILE`).
    public var additionalTokens: [APIToken]
    /// Request bodies above this size are refused with 413.
    public var maximumBodySize: Int
    /// Bundles (`POST /v1/bundle`) above this size are refused with 413.
    public var maximumBundleSize: Int
    /// The most entries one `GET /v1/entries` returns.
    public var maximumEntriesPerPage: Int
    /// How often an idle change feed sends a comment line, so that dead
    /// clients are noticed and proxies keep the connection open.
    public var changeFeedHeartbeat: Duration
    /// A connection that has not sent a whole request head this long after
    /// it opened or after its last response is closed: idle keep-alive
    /// connections and half-sent headers alike.
    public var idleTimeout: Duration
    /// HTTP connections open at once; the next is answered 503.
    public var maximumConnections: Int
    /// `GET /v1/changes` streams open at once; the next is answered 503.
    public var maximumChangeSubscribers: Int
    /// The web origin (`https://shop.example`) whose pages may call the
    /// API from a browser, or `*` for any; nil for none (no CORS headers).
    public var corsOrigin: String?
    /// `POST /v1/bundle` uploads at once (each may hold `maximumBundleSize`
    /// bytes in memory); the next is answered 503.
    public var maximumBundleUploads: Int

    public static let defaultPort = 7070
    public static let defaultMaximumBodySize = 8 << 20
    public static let defaultMaximumBundleSize = 256 << 20

    public init(
        host: String = "127.0.0.1", port: Int = ServerConfiguration.defaultPort, apiToken: String, additionalTokens: [APIToken] = [],
        maximumBodySize: Int = ServerConfiguration.defaultMaximumBodySize, maximumEntriesPerPage: Int = 1000,
        changeFeedHeartbeat: Duration = .seconds(15), maximumBundleSize: Int = ServerConfiguration.defaultMaximumBundleSize,
        idleTimeout: Duration = .seconds(30), maximumConnections: Int = 512, maximumChangeSubscribers: Int = 128,
        maximumBundleUploads: Int = 2
    ) {
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
        self.maximumChangeSubscribers = maximumChangeSubscribers
        self.maximumBundleUploads = maximumBundleUploads
        self.maximumBundleSize = maximumBundleSize
        self.host = host
        self.port = port
        self.apiToken = apiToken
        self.additionalTokens = additionalTokens
        self.maximumBodySize = maximumBodySize
        self.maximumEntriesPerPage = maximumEntriesPerPage
        self.changeFeedHeartbeat = changeFeedHeartbeat
    }

    /// Every token the API accepts, with its role.
    var tokens: [APIToken] { [APIToken(apiToken, role: .admin)] + additionalTokens }
}
