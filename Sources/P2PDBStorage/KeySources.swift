/// Where the value of an insert's key register comes from, read from the
/// statement's bytecode (`EXPLAIN`): the instructions that write the
/// register, followed back through copies (a multi-row VALUES copies each
/// row out of a coroutine) to the parameters and literals behind them.
///
/// It answers only what it can prove from the instructions it knows; any
/// other writer makes the key an expression, to be watched row by row.
enum KeySources: Equatable {
    /// Only literals that are never NULL: SQLite never picks the key.
    case literals
    /// One parameter, read directly: every row's key is its value.
    case parameter(Int)
    /// Parameters and non-NULL literals, row by row.
    case parameters([Int])
    /// Anything else (NULL literals, computed values).
    case expression

    /// (opcode, p1, p2, p3) of one instruction.
    typealias Instruction = (opcode: String, p1: Int64, p2: Int64, p3: Int64)

    /// Traces `register` as read by the instruction after `program`'s last.
    /// Writers are looked for before the instruction that reads: a copy out
    /// of a coroutine reads what the coroutine wrote before it yielded, not
    /// what the insert does with the register afterwards.
    static func trace(_ register: Int64, in program: [Instruction]) -> KeySources {
        var parameters: [Int] = []
        var copied = false
        var pending: [(register: Int64, reader: Int)] = [(register, program.count)]
        var seen = 0
        while let (current, reader) = pending.popLast() {
            seen += 1
            guard seen <= 64 else { return .expression }
            let writers = program[..<reader].indices.filter { writes(program[$0]).contains(current) }
            guard !writers.isEmpty else { return .expression }
            for address in writers {
                let writer = program[address]
                switch writer.opcode {
                case "Variable":
                    parameters.append(Int(writer.p1))
                case "Integer", "Int64", "Real", "String8", "String", "Blob":
                    continue
                case "Copy", "SCopy":
                    copied = true
                    pending.append((writer.p1 + (current - writer.p2), address))
                case "Column" where program.contains(where: { $0.opcode == "OpenEphemeral" && $0.p1 == writer.p1 }):
                    // An INSERT with RETURNING first stores its rows in a
                    // temporary table: follow the column back to the
                    // register its record was made from.
                    guard let sources = recordSources(column: writer.p2, cursor: writer.p1, in: program[..<address]) else {
                        return .expression
                    }
                    copied = true
                    pending.append(contentsOf: sources)
                default:
                    return .expression
                }
            }
        }
        if parameters.isEmpty { return .literals }
        if !copied, parameters.count == 1, let only = parameters.first { return .parameter(only) }
        return .parameters(parameters)
    }

    /// The registers (and where they are read) that column `column` of the
    /// rows inserted into temporary table `cursor` was made from; nil
    /// unless every such row is a record made of registers.
    private static func recordSources(
        column: Int64, cursor: Int64, in program: ArraySlice<Instruction>
    ) -> [(register: Int64, reader: Int)]? {
        let inserts = program.indices.filter { program[$0].opcode == "Insert" && program[$0].p1 == cursor }
        guard !inserts.isEmpty else { return nil }
        var sources: [(register: Int64, reader: Int)] = []
        for insert in inserts {
            let record = program[insert].p2
            let makers = program[..<insert].indices.filter { writes(program[$0]).contains(record) }
            guard !makers.isEmpty else { return nil }
            for maker in makers {
                guard program[maker].opcode == "MakeRecord", column < program[maker].p2 else { return nil }
                sources.append((program[maker].p1 + column, maker))
            }
        }
        return sources
    }

    /// The registers an instruction may write. Instructions that only jump,
    /// open cursors or read write none; an instruction not listed here is
    /// taken to write every register it names, so that it counts as a
    /// computed key rather than being overlooked.
    static func writes(_ instruction: Instruction) -> Range<Int64> {
        let (opcode, p1, p2, p3) = instruction
        switch opcode {
        case "Variable", "Integer", "Int64", "Real", "String8", "String", "Blob", "SCopy", "IntCopy", "Not", "BitNot", "Rowid",
            "Sequence", "NewRowid", "Count", "ReadCookie", "SorterData", "IsTrue", "ZeroOrNull":
            return p2..<(p2 + 1)
        case "Copy":
            return p2..<(p2 + max(0, p3) + 1)
        case "Move":
            return p2..<(p2 + max(1, p3))
        case "Null":
            return p2..<(max(p2, p3) + 1)
        case "Function", "PureFunc", "Concat", "Add", "Subtract", "Multiply", "Divide", "Remainder", "BitAnd", "BitOr",
            "ShiftLeft", "ShiftRight", "And", "Or", "Column", "MakeRecord", "Offset", "IdxRowid":
            return p3..<(p3 + 1)
        case "SoftNull", "Cast", "RealAffinity", "MustBeInt", "AddImm", "InitCoroutine", "Yield", "Gosub", "BeginSubrtn", "MemMax":
            return p1..<(p1 + 1)
        case "Affinity":
            return p1..<(p1 + max(1, p2))
        case "Init", "Goto", "Once", "If", "IfNot", "IsNull", "NotNull", "NotExists", "Halt", "HaltIfNull", "Transaction",
            "OpenWrite", "OpenRead", "OpenEphemeral", "OpenAutoindex", "OpenDup", "Close", "TypeCheck", "Eq", "Ne", "Lt", "Le", "Gt", "Ge",
            "Noop", "Explain", "Trace", "Rewind", "Next", "Prev", "Last", "SeekGE", "SeekGT", "SeekLE", "SeekLT", "SeekRowid", "IdxGE",
            "IdxGT", "IdxLE", "IdxLT", "Found", "NotFound", "NoConflict", "IfPos", "IfNotZero", "DecrJumpZero", "EndCoroutine", "Return",
            "Insert", "IdxInsert", "Delete", "IdxDelete", "ResetCount", "CursorHint", "ColumnsUsed", "TableLock", "VerifyCookie",
            "Jump", "ReleaseReg", "Permutation", "Compare", "FkCheck", "FkCounter", "FkIfZero",
            "SorterOpen", "SorterSort", "SorterNext", "SorterInsert", "ResultRow", "DeferredSeek", "Filter",
            "FilterAdd", "ElseEq", "IfNullRow", "SeekEnd", "SeekHit", "NullRow":
            return 0..<0
        default:
            return min(p1, p2, p3)..<(max(p1, p2, p3) + 1)
        }
    }
}
