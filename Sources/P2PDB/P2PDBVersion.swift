/// The version of this build of P2PDB, as `p2pdb --version` and
/// `GET /v1/status` report it.
public enum P2PDBVersion {
    public static let current = "0.1.0"
}
