print("p2pdb")
