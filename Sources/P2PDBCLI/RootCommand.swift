import ArgumentParser

/// `p2pdb`: the command line of a peer-to-peer replicated SQL database.
public struct RootCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "p2pdb",
        abstract: "A peer-to-peer, offline-first, replicated SQL database.",
        version: "0.1.0",
        subcommands: [
            InitCommand.self, SQLCommand.self, StatusCommand.self, LogCommand.self, VerifyCommand.self, CheckCommand.self,
            ExportCommand.self, ImportCommand.self, ServeCommand.self, TokenCommand.self, NetworkCommand.self, BenchCommand.self, SimulateCommand.self, FuzzCommand.self,
            SurfaceCommand.self, HostileCommand.self, ResumeWritesCommand.self, BackupCommand.self, RestoreCommand.self, RebuildCommand.self,
        ])

    public init() {}
}
