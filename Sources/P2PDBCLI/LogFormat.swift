import ArgumentParser
import Foundation
import Logging
import P2PDB
import Synchronization

/// How `serve` writes its log on standard error: `text` (swift-log's
/// stream format) or `json`, one object a line for log collectors.
enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json

    func handler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes each log line on standard error as one JSON object:
/// `{"time", "level", "label", "message", "metadata"}`, the time in ISO 8601
/// UTC to the millisecond, metadata as JSON strings, arrays and objects.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// One writer at a time: a line longer than a pipe's atomic write
    /// would otherwise interleave with another.
    private static let output = Mutex(())

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        let line = Self.line(
            time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged)
        let data = Data((line + "\n").utf8)
        Self.output.withLock { _ in FileHandle.standardError.write(data) }
    }

    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        JSON.object([
            ("time", .string(iso8601(time))),
            ("level", .string(level.rawValue)),
            ("label", .string(label)),
            ("message", .string(message)),
            ("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })),
        ]).text
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSON {
        switch value {
        case .string(let text): return .string(text)
        case .stringConvertible(let item): return .string(item.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let members): return .object(members.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })
        }
    }

    /// `2026-12-04T08:50:01.234Z`.
    static func iso8601(_ time: Date) -> String {
        let milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let date = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        let clock = "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        return "\(date)T\(clock).\(pad(Int32(milliseconds % 1000), 3))Z"
    }
}

