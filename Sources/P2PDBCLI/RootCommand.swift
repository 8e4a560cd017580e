import ArgumentParser
import Foundation
import P2PDB

/// `p2pdb`: the command line of a peer-to-peer, offline-first, replicated SQL database.
public struct RootCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "p2pdb",
        abstract: "A peer-to-peer, offline-first, replicated SQL database.",
        version: P2PDBVersion.current,
        subcommands: [
            InitCommand.self, SQLCommand.self, StatusCommand.self, LogCommand.self, VerifyCommand.self, CheckCommand.self,
            ExportCommand.self, ImportCommand.self, ServeCommand.self, TokenCommand.self, NetworkCommand.self, BenchCommand.self, SimulateCommand.self, FuzzCommand.self,
            SurfaceCommand.self, HostileCommand.self, ResumeWritesCommand.self, BackupCommand.self, RestoreCommand.self, RebuildCommand.self,
        ])

    public init() {}

    /// Runs the command the process was started with, its settings
    /// completed from the environment and a configuration file (see
    /// ``ResolvedCommandLine``).
    public static func runFromCommandLine() async -> Never {
        let resolved: ResolvedCommandLine
        do {
            resolved = try ResolvedCommandLine.resolve(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        } catch {
            printError(error.message)
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(resolved.arguments)
        } catch {
            let added = resolved.added
            guard exitCode(for: error) != .success, !added.isEmpty else { exit(withError: error) }
            // The value at fault may be one the user did not type: say where it came from.
            let message = fullMessage(for: error)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            let named = added.filter { message.contains("'--\($0.setting.name)") }
            let sources = (named.isEmpty ? added : named).map { "--\($0.setting.name) from \($0.source)" }.joined(separator: ", ")
            printError("settings not given on the command line: \(sources)")
            Foundation.exit(exitCode(for: error).rawValue)
        }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
        exit()
    }
}
