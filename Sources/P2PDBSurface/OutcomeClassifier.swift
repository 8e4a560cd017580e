import P2PDB

/// How a transaction on a replica ended, in the terms of the run's report.
enum TransactionOutcome: Sendable {
    case accepted(TransactionResult)
    /// P2PDB refused it by design; the reason is normalised for counting.
    case refused(reason: String, message: String)
    /// An ordinary SQL failure (constraint, invalid SQL), as SQLite would have.
    case failed(P2PDBError)
    /// An error a client should never see from a local write (storage,
    /// corrupt, ...): a failure of the case.
    case unexpected(String)

    init(error: any Error) {
        guard let error = error as? P2PDBError else {
            self = .unexpected("\(type(of: error)): \(error)")
            return
        }
        if let reason = Self.deliberateReason(error) {
            self = .refused(reason: reason, message: error.message)
            return
        }
        switch error.kind {
        case .refused: self = .refused(reason: RefusalReason.normalize(error.message), message: error.message)
        case .constraint, .invalidSQL, .invalidParameters: self = .failed(error)
        default: self = .unexpected("\(error.kind.rawValue): \(error.message)")
        }
    }

    /// Documented rules that P2PDB enforces beyond SQLite without the
    /// `.refused` kind: no NULL in a key column, only integers in a counter.
    private static func deliberateReason(_ error: P2PDBError) -> String? {
        if error.kind == .constraint, error.message.contains("primary key column"), error.message.hasSuffix("cannot be NULL") {
            return "NULL in a primary key column (P2PDB rule; SQLite allows it in rowid tables)"
        }
        if error.kind == .invalidInput, error.message.contains("is a COUNTER and holds integers") {
            return "a COUNTER column given a value that is not an integer"
        }
        return nil
    }
}

/// A refusal message with the case's identifiers taken out (as `*`), so
/// that the same reason counts once whatever table or column it named.
enum RefusalReason {
    /// The names a case may use, ASCII-folded, longest first.
    private static let names: [(name: String, key: [Character])] = SurfaceNames.all.filter { !$0.isEmpty }
        .map { ($0, Array(SQLText.key($0).text)) }.sorted { $0.key.count > $1.key.count }

    /// Words of P2PDB's and SQLite's messages that are also names a case
    /// may use, spelled as the messages spell them.
    private static let keywords: Set<String> = ["SELECT", "ROWID", "WHEN", "select", "rowid", "when"]

    private static let boundaries: Set<Character> = [" ", ".", "`", "(", ")", "\"", ":", ",", ";", "'"]

    /// Replaces each name where it stands as a whole word, in any ASCII
    /// case, but not where the match is a word of the message itself
    /// (`AS SELECT` when the name is `select`).
    static func normalize(_ message: String) -> String {
        let characters = Array(message)
        let folded = Array(SQLText.key(message).text)
        guard folded.count == characters.count else { return message }
        var result = ""
        var index = 0
        scanning: while index < characters.count {
            if index == 0 || boundaries.contains(characters[index - 1]) {
                for (name, key) in names {
                    let end = index + key.count
                    guard end <= characters.count, end == characters.count || boundaries.contains(characters[end]),
                        folded[index..<end].elementsEqual(key)
                    else { continue }
                    let match = String(characters[index..<end])
                    guard match == name || !keywords.contains(match) else { continue }
                    result += "*"
                    index = end
                    continue scanning
                }
            }
            result.append(characters[index])
            index += 1
        }
        return result
    }

    /// A message's shape, for naming a failure kind: names, quoted text,
    /// hashes and numbers taken out, so that the same error counts once.
    static func pattern(of message: String) -> String {
        let words = normalize(message).split(separator: " ", omittingEmptySubsequences: false).map { word in
            let bare = word.filter { $0.isLetter || $0.isNumber }
            return bare.count >= 8 && bare.allSatisfy(\.isHexDigit) ? "*" : String(word)
        }
        var result = ""
        var quote: Character?
        for character in words.joined(separator: " ") {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || (character == "'" && !(result.last?.isLetter ?? false)) {
                // An opening quote; an apostrophe (the log's) is not one.
                quote = character
                result += "*"
            } else if character.isNumber {
                if result.last != "#" { result.append("#") }
            } else {
                result.append(character)
            }
        }
        return result.count > 160 ? String(result.prefix(160)) + "..." : result
    }
}
