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

    init(error: any Error, names: [String]) {
        guard let error = error as? P2PDBError else {
            self = .unexpected("\(type(of: error)): \(error)")
            return
        }
        if let reason = Self.deliberateReason(error) {
            self = .refused(reason: reason, message: error.message)
            return
        }
        switch error.kind {
        case .refused: self = .refused(reason: RefusalReason.normalize(error.message, names: names), message: error.message)
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
    static func normalize(_ message: String, names: [String]) -> String {
        var text = message
        for name in names.filter({ !$0.isEmpty }).sorted(by: { $0.utf8.count > $1.utf8.count }) {
            text = replacing(name, in: text)
        }
        return text
    }

    /// A message's shape, for naming a failure kind: names, quoted text,
    /// hashes and numbers taken out, so that the same error counts once.
    static func pattern(of message: String) -> String {
        let words = normalize(message, names: SurfaceNames.all).split(separator: " ", omittingEmptySubsequences: false).map { word in
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

    private static let boundaries: Set<Character> = [" ", ".", "`", "(", ")", "\"", ":", ",", ";", "'"]

    /// Replaces `name` where it stands as a whole word, in any ASCII case,
    /// but not where an all-capitals match is a keyword of the message
    /// (`PRIMARY KEY` when the name is `Key`).
    private static func replacing(_ name: String, in text: String) -> String {
        let characters = Array(text)
        let target = Array(SQLText.key(name))
        guard !target.isEmpty, characters.count >= target.count else { return text }
        var result = ""
        var index = 0
        while index < characters.count {
            let end = index + target.count
            if end <= characters.count, Array(SQLText.key(String(characters[index..<end]))) == target,
                index == 0 || boundaries.contains(characters[index - 1]),
                end == characters.count || boundaries.contains(characters[end])
            {
                let match = String(characters[index..<end])
                if match == name || match != match.uppercased() {
                    result += "*"
                    index = end
                    continue
                }
            }
            result.append(characters[index])
            index += 1
        }
        return result
    }
}
