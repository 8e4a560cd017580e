import P2PDB

/// Reads the JSON bodies of `POST /v1/sql` and `POST /v1/tx`.
///
/// ```json
/// {"sql": "INSERT INTO items VALUES (?, ?)", "params": ["apple", 3]}
/// {"statements": [{"sql": "...", "params": [...]}, {"sql": "..."}]}
/// ```
package enum RequestDecoding {
    package static func document(_ bytes: [UInt8]) throws(P2PDBError) -> JSON {
        guard !bytes.isEmpty else { throw P2PDBError(.invalidInput, "the request body is empty; send a JSON object") }
        do {
            return try JSON.parse(bytes)
        } catch {
            throw P2PDBError(.invalidInput, "the request body is not valid JSON: \(error.message)")
        }
    }

    /// - Parameter also: members an endpoint takes besides `sql` and
    ///   `params` (and reads itself), such as `read_only`.
    package static func statement(_ json: JSON, at path: String = "", also: Set<String> = []) throws(P2PDBError) -> SQLRequest {
        guard case .object(let members) = json else {
            throw P2PDBError(.invalidInput, "\(path.isEmpty ? "the body" : path) must be a JSON object with \"sql\" and optional \"params\"")
        }
        for (name, _) in members where name != "sql" && name != "params" && !also.contains(name) {
            throw P2PDBError(.invalidInput, "\(path)\(name) is not a known field (expected \"sql\" and \"params\")")
        }
        guard case .string(let sql)? = json["sql"] else {
            throw P2PDBError(.invalidInput, "\(path)sql is missing or not a string")
        }
        var parameters: [Value] = []
        switch json["params"] {
        case nil, .null?:
            break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                do {
                    parameters.append(try Value(json: item))
                } catch {
                    throw P2PDBError(.invalidParameters, "\(path)params[\(index)]: \(error.message)")
                }
            }
        default:
            throw P2PDBError(.invalidInput, "\(path)params must be an array")
        }
        return SQLRequest(sql, parameters)
    }

    package static func transaction(_ json: JSON) throws(P2PDBError) -> [SQLRequest] {
        guard case .object(let members) = json, members.count == 1, case .array(let items)? = json["statements"] else {
            throw P2PDBError(.invalidInput, "the body must be {\"statements\": [{\"sql\": \"...\", \"params\": [...]}, ...]}")
        }
        guard !items.isEmpty else { throw P2PDBError(.invalidInput, "statements is empty") }
        var requests: [SQLRequest] = []
        for (index, item) in items.enumerated() {
            requests.append(try statement(item, at: "statements[\(index)]."))
        }
        return requests
    }
}
