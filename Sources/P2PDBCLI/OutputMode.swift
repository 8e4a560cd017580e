import P2PDB

/// How the shell prints a query's rows, as `sqlite3`'s `.mode` does.
///
/// ```
/// table   id | name          json   {"columns":["id","name"],"rows":[[1,"apple"]]}
///         ---+------
///         1  | apple         csv    id,name
///         (1 row)                   1,apple
///                            line      id = 1
///                                    name = apple
/// ```
///
/// `json` is the document `p2pdb sql --json` and `POST /v1/sql` give.
enum OutputMode: String, CaseIterable, Sendable {
    case table, json, csv, line

    func render(_ result: StatementResult) -> String {
        switch self {
        case .table:
            return TablePrinter.render(result)
        case .json:
            return JSONRendering.statement(result).text
        case .csv:
            let lines = [result.columns.map(Self.csvField)] + result.rows.map { $0.map { Self.csvField($0 == .null ? "" : TablePrinter.cell($0)) } }
            return lines.map { $0.joined(separator: ",") }.joined(separator: "\r\n")
        case .line:
            let width = result.columns.map(\.count).max() ?? 0
            return result.rows.map { row in
                zip(result.columns, row).map { name, value in
                    String(repeating: " ", count: width - name.count) + name + " = " + TablePrinter.cell(value)
                }.joined(separator: "\n")
            }.joined(separator: "\n\n")
        }
    }

    /// A field quoted as RFC 4180 says when it holds a comma, a quote or a
    /// line break.
    private static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
