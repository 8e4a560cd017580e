import P2PDBCLI

@main
struct P2PDBMain {
    static func main() async {
        await RootCommand.runFromCommandLine()
    }
}
