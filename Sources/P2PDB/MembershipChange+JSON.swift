import P2PDBCore

/// Grants, revocations and table rules as JSON, for the HTTP API
/// (`POST /v1/network/changes`) and the log:
///
/// ```json
/// {"grant": {"node": "<node ID>", "role": "writer"}}
/// {"revoke": {"node": "<node ID>"}}
/// {"restrict": {"table": "prices", "role": "admin", "nodes": ["<node ID>"]}}
/// {"credential": {"node": "<node ID>", "role": "writer", "expires_at": null}}
/// ```
extension MembershipChange {
    public var json: JSON {
        switch self {
        case .credential(let credential):
            return .object([
                (
                    "credential",
                    .object([
                        ("node", .string(credential.node.hex)), ("role", .string(credential.role.description)),
                        ("expires_at", credential.expiresAt.map { .integer($0) } ?? .null),
                    ])
                )
            ])
        case .grant(let node, let role):
            return .object([("grant", .object([("node", .string(node.hex)), ("role", .string(role.description))]))])
        case .revoke(let node):
            return .object([("revoke", .object([("node", .string(node.hex))]))])
        case .restrict(let table, let rule):
            return .object([
                (
                    "restrict",
                    .object([
                        ("table", .string(table)), ("role", .string(rule.minimumRole.description)),
                        ("nodes", .array(rule.nodes.map { .string($0.hex) })),
                    ])
                )
            ])
        }
    }

    /// A grant, revocation or table rule from its JSON form (credentials
    /// are issued with the network key, not sent).
    public init(json: JSON) throws(P2PDBError) {
        let usage = "send {\"grant\": {\"node\", \"role\"}}, {\"revoke\": {\"node\"}} or {\"restrict\": {\"table\", \"role\", \"nodes\"}}"
        guard case .object(let members) = json, members.count == 1, let (kind, body) = members.first else {
            throw P2PDBError(.invalidInput, usage)
        }
        func node(_ value: JSON?) throws(P2PDBError) -> NodeID {
            guard let hex = value?.stringValue, let node = NodeID(hex: hex.lowercased()) else {
                throw P2PDBError(.invalidInput, "\(kind): node must be a node ID of 64 hex digits")
            }
            return node
        }
        func role() throws(P2PDBError) -> NetworkRole {
            guard let name = body["role"]?.stringValue, let role = NetworkRole(name: name) else {
                throw P2PDBError(.invalidInput, "\(kind): role must be reader, writer or admin")
            }
            return role
        }
        switch kind {
        case "grant":
            self = .grant(node: try node(body["node"]), role: try role())
        case "revoke":
            self = .revoke(node: try node(body["node"]))
        case "restrict":
            guard let table = body["table"]?.stringValue, SQLText.identifierProblem(table) == nil else {
                throw P2PDBError(.invalidInput, "restrict: table must be a table name")
            }
            let minimum = try role()
            guard minimum.mayWrite else { throw P2PDBError(.invalidInput, "restrict: role must be writer or admin (readers never write)") }
            var nodes: [NodeID] = []
            if case .array(let items)? = body["nodes"] {
                for item in items { nodes.append(try node(item)) }
            }
            self = .restrict(table: table, rule: TableRule(minimumRole: minimum, nodes: nodes))
        default:
            throw P2PDBError(.invalidInput, usage)
        }
    }
}
