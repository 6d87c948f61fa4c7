"""Units in one place: OpenMM and mdtraj speak nm, the model and the analysis report Angstrom."""

#: Angstrom per nanometre: the one nm -> A factor of the package (the tensor cloud, the analysis).
ANGSTROM_PER_NM = 10.0
