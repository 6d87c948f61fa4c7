"""The protein layer: residue and atom names (``vocabulary``), binding an OpenMM topology (``topology``),
the tensor cloud (``tensorcloud``), atoms rebuilt after a jump (``hydrogens``) and the covalent projection
(``covalent``). Knows OpenMM topologies and torch; nothing of networks, training or analysis."""
