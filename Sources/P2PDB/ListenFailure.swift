import Foundation

/// An address a node was told to listen on and cannot bind: the port is
/// taken, the address is not one of this machine's, or the port needs
/// privileges. `p2pdb serve` stops with it rather than run without the
/// endpoint.
public struct ListenFailure: Error, Sendable, CustomStringConvertible {
    /// What the endpoint is for: "peers", "HTTP requests".
    public let purpose: String
    /// The address as given.
    public let address: String
    /// The reason in words, with what to do about it.
    public let reason: String

    public init(purpose: String, address: String, reason: String) {
        self.purpose = purpose
        self.address = address
        self.reason = reason
    }

    /// A failure the operating system numbered, explained.
    /// - Parameter option: the option that gave the address (`--listen`), named in the advice.
    public init(purpose: String, address: String, option: String, errno: Int32) {
        let reason =
            switch errno {
            case EADDRINUSE: "address already in use; choose another \(option) port or stop the process using it"
            case EADDRNOTAVAIL: "not an address of this machine; give \(option) one of its own addresses, or 0.0.0.0 for all of them"
            case EACCES, EPERM: "permission denied; ports below 1024 need privileges: choose a higher \(option) port"
            default: String(cString: strerror(errno)).lowercased()
            }
        self.init(purpose: purpose, address: address, reason: reason)
    }

    public var description: String { "cannot listen for \(purpose) on \(address): \(reason)" }
}
