/// `HOST:PORT` as every address option takes it: `127.0.0.1:7070`,
/// `0.0.0.0:7071`, `[::1]:7070` (port 0 picks a free one).
public enum NetworkAddress {
    public static func parse(_ text: String) throws(P2PDBError) -> (host: String, port: Int) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw P2PDBError(.invalidInput, "\(text) is not HOST:PORT") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw P2PDBError(.invalidInput, "\(text) is not HOST:PORT (for example 127.0.0.1:7070)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw P2PDBError(.invalidInput, "\(text): the host is missing") }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw P2PDBError(.invalidInput, "\(text): the port must be a number from 0 to 65535")
        }
        return (String(host), port)
    }
}
