/// Lexical helpers for SQL text: quoting, tokenizing, and checks on the
/// fragments of DDL that replicas exchange.
public enum SQLText {
    /// `name` as a double-quoted SQL identifier.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `text` as a single-quoted SQL string literal.
    public static func quoteString(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    public enum TokenKind: Equatable, Sendable {
        /// A bare word: keyword or identifier, as written.
        case word
        /// A quoted identifier ("x", [x] or `x`), unquoted.
        case quotedIdentifier
        case string
        case number
        case blob
        case parameter
        case punctuation
    }

    public struct Token: Equatable, Sendable {
        public var kind: TokenKind
        public var text: String
        /// Where the token was in the text, in Unicode scalars (see
        /// ``SQLText/source(of:in:)``).
        public var range: Range<Int> = 0..<0

        public init(kind: TokenKind, text: String) {
            self.kind = kind
            self.text = text
        }

        /// Equal kind and text, wherever the tokens were.
        public static func == (lhs: Token, rhs: Token) -> Bool { lhs.kind == rhs.kind && lhs.text == rhs.text }

        /// Upper-cased text of a bare word, for keyword checks.
        public var keyword: String? { kind == .word ? text.uppercased() : nil }

        public func isKeyword(_ keyword: String) -> Bool { self.keyword == keyword }
        public func isPunctuation(_ symbol: String) -> Bool { kind == .punctuation && text == symbol }
    }

    /// Splits SQL into tokens, dropping white space and comments. Returns nil
    /// for unterminated strings, identifiers or comments.
    public static func tokenize(_ sql: String) -> [Token]? {
        let chars = Array(sql.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        func isWordStart(_ c: Unicode.Scalar) -> Bool {
            c == "_" || c.properties.isAlphabetic || c.value > 0x7f
        }
        func isWordPart(_ c: Unicode.Scalar) -> Bool {
            isWordStart(c) || ("0"..."9").contains(c) || c == "$"
        }
        func text(_ range: Range<Int>) -> String {
            var result = String.UnicodeScalarView()
            result.append(contentsOf: chars[range])
            return String(result)
        }
        while index < chars.count {
            let tokenStart = index
            let tokenCount = tokens.count
            defer { if tokens.count > tokenCount { tokens[tokens.count - 1].range = tokenStart..<index } }
            let c = chars[index]
            if c.properties.isWhitespace {
                index += 1
            } else if c == "-" && index + 1 < chars.count && chars[index + 1] == "-" {
                while index < chars.count && chars[index] != "\n" { index += 1 }
            } else if c == "/" && index + 1 < chars.count && chars[index + 1] == "*" {
                index += 2
                var closed = false
                while index + 1 < chars.count {
                    if chars[index] == "*" && chars[index + 1] == "/" { closed = true; index += 2; break }
                    index += 1
                }
                if !closed { return nil }
            } else if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                var value = String.UnicodeScalarView()
                var position = index + 1
                var closed = false
                while position < chars.count {
                    if chars[position] == close {
                        if close != "]" && position + 1 < chars.count && chars[position + 1] == close {
                            value.append(close)
                            position += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    value.append(chars[position])
                    position += 1
                }
                if !closed { return nil }
                tokens.append(Token(kind: c == "'" ? .string : .quotedIdentifier, text: String(value)))
                index = position + 1
            } else if (c == "x" || c == "X") && index + 1 < chars.count && chars[index + 1] == "'" {
                guard let close = chars[(index + 2)...].firstIndex(of: "'") else { return nil }
                tokens.append(Token(kind: .blob, text: text(index + 2..<close)))
                index = close + 1
            } else if ("0"..."9").contains(c) || (c == "." && index + 1 < chars.count && ("0"..."9").contains(chars[index + 1])) {
                let start = index
                while index < chars.count {
                    let d = chars[index]
                    if isWordPart(d) || d == "." {
                        index += 1
                    } else if (d == "+" || d == "-") && (chars[index - 1] == "e" || chars[index - 1] == "E")
                        && !text(start..<index).lowercased().hasPrefix("0x")
                    {
                        index += 1
                    } else {
                        break
                    }
                }
                tokens.append(Token(kind: .number, text: text(start..<index)))
            } else if c == "?" || c == ":" || c == "@" || c == "$" {
                let start = index
                index += 1
                while index < chars.count && isWordPart(chars[index]) { index += 1 }
                tokens.append(Token(kind: .parameter, text: text(start..<index)))
            } else if isWordStart(c) {
                let start = index
                while index < chars.count && isWordPart(chars[index]) { index += 1 }
                tokens.append(Token(kind: .word, text: text(start..<index)))
            } else {
                let two = index + 1 < chars.count ? text(index..<index + 2) : ""
                if ["<=", ">=", "<>", "!=", "==", "||", "<<", ">>", "->"].contains(two) {
                    tokens.append(Token(kind: .punctuation, text: two))
                    index += 2
                } else {
                    tokens.append(Token(kind: .punctuation, text: String(c)))
                    index += 1
                }
            }
        }
        return tokens
    }

    /// The text from the start of `first` to the end of `last`, as written.
    public static func source(from first: Token, through last: Token, in sql: String) -> String {
        var result = String.UnicodeScalarView()
        result.append(contentsOf: Array(sql.unicodeScalars)[first.range.lowerBound..<last.range.upperBound])
        return String(result)
    }

    /// True if `text` is a valid declared column type: words, optionally
    /// followed by one or two (signed) numbers in parentheses, e.g.
    /// `VARCHAR(10)` or `COUNTER INTEGER`.
    public static func isValidDeclaredType(_ text: String) -> Bool {
        guard let tokens = tokenize(text) else { return false }
        var index = 0
        while index < tokens.count, tokens[index].kind == .word || tokens[index].kind == .quotedIdentifier {
            guard !typeTerminators.contains(tokens[index].keyword ?? "") else { return false }
            index += 1
        }
        if index == tokens.count { return true }
        guard index > 0, tokens[index].isPunctuation("(") else { return false }
        index += 1
        var numbers = 0
        while index < tokens.count {
            let token = tokens[index]
            if token.isPunctuation("+") || token.isPunctuation("-") { index += 1; continue }
            guard token.kind == .number else { return false }
            numbers += 1
            index += 1
            guard index < tokens.count else { return false }
            if tokens[index].isPunctuation(",") && numbers == 1 { index += 1; continue }
            guard tokens[index].isPunctuation(")") else { return false }
            return index == tokens.count - 1
        }
        return false
    }

    private static let typeTerminators: Set<String> = [
        "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE", "REFERENCES",
        "GENERATED", "AS",
    ]

    /// True if `text` is one DEFAULT expression: a literal, a signed number,
    /// CURRENT_TIME/DATE/TIMESTAMP, or one balanced parenthesized expression.
    public static func isValidDefaultExpression(_ text: String) -> Bool {
        guard let tokens = tokenize(text), let first = tokens.first else { return false }
        if tokens.count == 1 {
            switch first.kind {
            case .string, .number, .blob: return true
            case .word: return literalKeywords.contains(first.keyword ?? "")
            default: return false
            }
        }
        if tokens.count == 2, first.isPunctuation("+") || first.isPunctuation("-") {
            return tokens[1].kind == .number
        }
        return isParenthesized(tokens)
    }

    /// True if `text` is one expression in balanced parentheses, with no
    /// parameters and no statement separator, as in a CHECK constraint.
    public static func isParenthesizedExpression(_ text: String) -> Bool {
        guard let tokens = tokenize(text) else { return false }
        return isParenthesized(tokens)
    }

    private static func isParenthesized(_ tokens: [Token]) -> Bool {
        guard tokens.first?.isPunctuation("(") == true, tokens.last?.isPunctuation(")") == true else { return false }
        var depth = 0
        for (position, token) in tokens.enumerated() {
            if token.isPunctuation(";") || token.kind == .parameter { return false }
            if token.isPunctuation("(") { depth += 1 }
            if token.isPunctuation(")") {
                depth -= 1
                if depth == 0 && position != tokens.count - 1 { return false }
            }
        }
        return depth == 0
    }

    /// The CREATE statement of a view or trigger with a canonical head,
    /// `CREATE VIEW "name"` or `CREATE TRIGGER "name"`, and the rest as
    /// the user wrote it; nil if `sql` is not such a statement.
    public static func canonicalObjectSQL(_ sql: String, kind: SchemaObjectDefinition.Kind) -> (name: String, sql: String)? {
        guard let tokens = tokenize(sql), tokens.count > 3, tokens[0].isKeyword("CREATE"), tokens[1].isKeyword(kind.keyword) else {
            return nil
        }
        var index = 2
        if tokens.count > index + 3, tokens[index].isKeyword("IF"), tokens[index + 1].isKeyword("NOT"), tokens[index + 2].isKeyword("EXISTS") {
            index += 3
        }
        if tokens.count > index + 2, tokens[index + 1].isPunctuation(".") { index += 2 }
        guard index + 1 < tokens.count, tokens[index].kind == .word || tokens[index].kind == .quotedIdentifier || tokens[index].kind == .string
        else { return nil }
        let name = tokens[index].text
        let rest = source(from: tokens[index + 1], through: tokens[tokens.count - 1], in: sql)
        return (name, "CREATE \(kind.keyword) \(quoteIdentifier(name)) \(rest)")
    }

    /// Why a view or trigger definition from an entry cannot be created as
    /// one statement of its kind, or nil if it can be tried.
    public static func schemaObjectProblem(_ object: SchemaObjectDefinition) -> String? {
        guard let canonical = canonicalObjectSQL(object.sql, kind: object.kind),
            canonical.name.utf8.elementsEqual(object.name.utf8), canonical.sql.utf8.elementsEqual(object.sql.utf8),
            let tokens = tokenize(object.sql)
        else { return "not a CREATE \(object.kind.keyword) statement of that name" }
        if tokens.contains(where: { $0.kind == .parameter }) { return "parameters are not allowed" }
        switch object.kind {
        case .view:
            if tokens.contains(where: { $0.isPunctuation(";") }) { return "a view is one statement" }
        case .trigger:
            guard tokens.last?.isKeyword("END") == true, tokens.contains(where: { $0.isKeyword("BEGIN") }) else {
                return "a trigger's body is BEGIN ... END"
            }
            for index in tokens.indices.dropLast(2)
            where tokens[index].isKeyword("RAISE") && tokens[index + 1].isPunctuation("(") && tokens[index + 2].isKeyword("IGNORE") {
                return "RAISE(IGNORE) is refused (it leaves the rest of the statement's triggers unrun); skip rows with the trigger's WHEN clause"
            }
        case .index:
            return "indexes have their own definition"
        }
        return nil
    }

    private static let literalKeywords: Set<String> = [
        "NULL", "TRUE", "FALSE", "CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP",
    ]

    /// True if a DEFAULT expression is a plain literal: a number, string,
    /// blob, NULL, TRUE or FALSE, a number possibly signed. SQLite itself
    /// says what value it stands for (see the storage layer's default
    /// values); ALTER TABLE ADD COLUMN takes only these.
    public static func isLiteral(default text: String) -> Bool {
        guard let tokens = tokenize(text), let first = tokens.first, tokens.count <= 2 else { return false }
        if tokens.count == 2 {
            return (first.isPunctuation("-") || first.isPunctuation("+")) && tokens[1].kind == .number
        }
        switch first.kind {
        case .string, .number, .blob: return true
        case .word: return ["NULL", "TRUE", "FALSE"].contains(first.keyword ?? "")
        default: return false
        }
    }

    /// The longest identifier an entry may carry, in UTF-8 bytes.
    public static let maximumIdentifierBytes = 1024

    /// Why `name` cannot name a replicated table, column or index, or nil
    /// if it can. SQLite takes an empty name and names of any length; the
    /// entry format does not.
    public static func identifierProblem(_ name: String) -> String? {
        if name.isEmpty { return "a name cannot be empty" }
        if name.utf8.count > maximumIdentifierBytes { return "a name is limited to \(maximumIdentifierBytes) bytes" }
        if name.utf8.contains(0) { return "a name cannot hold a NUL character" }
        return nil
    }

    /// Names of tables and indexes kept by SQLite (`sqlite_`) and by P2PDB
    /// (`_p2pdb_`), compared as SQLite compares names.
    public static func isReservedObjectName(_ name: String) -> Bool {
        let key = IdentifierKey(name)
        return key.hasPrefix("sqlite_") || key.hasPrefix("_p2pdb_")
    }

    /// Whether two SQL texts are the same bytes, as SQLite sees them (Swift's
    /// `==` takes the NFC and NFD spellings of a name for one text).
    public static func sameText(_ left: String?, _ right: String?) -> Bool {
        guard let left, let right else { return left == nil && right == nil }
        return left.utf8.elementsEqual(right.utf8)
    }

    /// The identifier as SQLite compares it (see ``IdentifierKey``).
    public static func key(_ name: String) -> IdentifierKey { IdentifierKey(name) }
}
