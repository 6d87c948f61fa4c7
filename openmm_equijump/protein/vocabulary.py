"""The names the model knows: residue vocabulary, canonical heavy-atom order, name aliases of the force-field
dialects, and the van der Waals radii the projection and the analysis share. Plain tables: no OpenMM, no torch
(the analysis and the networks' configuration read them).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

#: Residue types known to the model; the index into this tuple is the residue type ``S``.
VOCABULARY: Tuple[str, ...] = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "NLE",
)

#: Number of vector slots per residue (TRP has 13 heavy atoms besides its C-alpha).
N_SLOTS = 13

#: The canonical order of the non-C-alpha heavy atoms, one row per residue type: N, C, O, CB, side chain.
HEAVY_ATOM_ORDER: Dict[str, Tuple[str, ...]] = {
    "ALA": ("N", "C", "O", "CB"),
    "ARG": ("N", "C", "O", "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "ASN": ("N", "C", "O", "CB", "CG", "OD1", "ND2"),
    "ASP": ("N", "C", "O", "CB", "CG", "OD1", "OD2"),
    "CYS": ("N", "C", "O", "CB", "SG"),
    "GLN": ("N", "C", "O", "CB", "CG", "CD", "OE1", "NE2"),
    "GLU": ("N", "C", "O", "CB", "CG", "CD", "OE1", "OE2"),
    "GLY": ("N", "C", "O"),
    "HIS": ("N", "C", "O", "CB", "CG", "ND1", "CD2", "CE1", "NE2"),
    "ILE": ("N", "C", "O", "CB", "CG1", "CG2", "CD1"),
    "LEU": ("N", "C", "O", "CB", "CG", "CD1", "CD2"),
    "LYS": ("N", "C", "O", "CB", "CG", "CD", "CE", "NZ"),
    "MET": ("N", "C", "O", "CB", "CG", "SD", "CE"),
    "PHE": ("N", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "PRO": ("N", "C", "O", "CB", "CG", "CD"),
    "SER": ("N", "C", "O", "CB", "OG"),
    "THR": ("N", "C", "O", "CB", "OG1", "CG2"),
    "TRP": ("N", "C", "O", "CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": ("N", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"),
    "VAL": ("N", "C", "O", "CB", "CG1", "CG2"),
    "NLE": ("N", "C", "O", "CB", "CG", "CD", "CE"),
}

#: Force-field and program spellings of residue names -> their vocabulary parent.
RESIDUE_ALIASES: Dict[str, str] = {
    # histidine protonation states: Amber, CHARMM, GROMACS
    "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HIH": "HIS",
    "HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HSH": "HIS",
    "HISA": "HIS", "HISB": "HIS", "HISD": "HIS", "HISE": "HIS", "HISH": "HIS", "HISP": "HIS",
    "HIS1": "HIS", "HIS2": "HIS",
    # cysteine: disulfide-bonded, deprotonated
    "CYX": "CYS", "CYM": "CYS", "CYS2": "CYS", "CYSH": "CYS",
    # protonated acids, neutral bases
    "ASH": "ASP", "ASPP": "ASP", "ASPH": "ASP",
    "GLH": "GLU", "GLUP": "GLU", "GLUH": "GLU",
    "LYN": "LYS", "LSN": "LYS", "LYSN": "LYS", "LYSH": "LYS",
    "ARN": "ARG", "ARGN": "ARG",
    "TYM": "TYR",
}

#: Modified residues bound deliberately as their parent: parent name and the extra heavy atoms, each carried
#: rigidly in the frame (origin, axis, plane) of three of the parent's atoms.
MODIFIED_RESIDUES: Dict[str, Tuple[str, Dict[str, Tuple[str, str, str]]]] = {
    "CSO": ("CYS", {"OD": ("SG", "CB", "CA")}),
}

#: Atom-name dialects -> canonical names, for every residue (CHARMM OT1/OT2, GROMACS OC1/OC2 and O1/O2).
ATOM_NAME_ALIASES: Dict[str, str] = {
    "OT1": "O", "OC1": "O", "O1": "O", "OCT1": "O",
    "OT2": "OXT", "OC2": "OXT", "O2": "OXT", "OCT2": "OXT",
}

#: Per-residue atom-name dialects (CHARMM and GROMACS call isoleucine's CD1 "CD").
RESIDUE_ATOM_NAME_ALIASES: Dict[str, Dict[str, str]] = {
    "ILE": {"CD": "CD1"},
}

#: Frames of backbone atoms in which terminal atoms and caps are carried rigidly.
N_TERMINAL_FRAME = ("N", "CA", "C")
C_TERMINAL_FRAME = ("C", "CA", "O")

#: Heavy atoms inside an amino-acid residue that the model does not move: the terminal OXT and CHARMM's
#: terminal patches (ACE-like CAY/CY/OY, CT2/CT3 amide NT and CAT), carried in a backbone frame.
CARRIED_TERMINAL_ATOMS: Dict[str, Tuple[str, str, str]] = {
    "OXT": C_TERMINAL_FRAME, "NT": C_TERMINAL_FRAME, "CAT": C_TERMINAL_FRAME,
    "CAY": N_TERMINAL_FRAME, "CY": N_TERMINAL_FRAME, "OY": N_TERMINAL_FRAME,
}

#: Cap residues: carried rigidly in the frame of the backbone of the residue they are bonded to.
N_CAPS = frozenset({"ACE", "FOR"})
C_CAPS = frozenset({"NME", "NMA", "NHE", "NH2"})

WATER_NAMES = frozenset({
    "HOH", "WAT", "SOL", "H2O", "DOD", "TIP", "TIP3", "TIP3P", "TP3", "T3P", "TIP4", "TIP4P", "T4P", "T4E",
    "TIP5", "TIP5P", "T5P", "SPC", "SPCE", "OPC",
})
NUCLEIC_NAMES = frozenset(
    {"A", "C", "G", "U", "T", "I", "DA", "DC", "DG", "DT", "DU", "DI", "RA", "RC", "RG", "RU",
     "ADE", "GUA", "CYT", "URA", "THY", "DAD", "DGU", "DCY"}
    | {f"{base}{end}" for base in ("A", "C", "G", "U", "DA", "DC", "DG", "DT", "RA", "RC", "RG", "RU")
       for end in ("3", "5", "N")}
)

#: Bondi van der Waals radii of the heavy elements of proteins, A.
VDW_RADIUS_A = {"C": 1.70, "N": 1.55, "O": 1.52, "S": 1.80, "Se": 1.90}
#: MolProbity's "serious clash": heavy atoms overlapping their van der Waals radii by more than this, A.
SERIOUS_CLASH_OVERLAP_A = 0.4


def canonical_residue_name(name: str) -> Optional[str]:
    """The vocabulary name of a residue name, resolving aliases; None when it is not a known amino acid.

    GROMACS Amber ports name terminal residues NALA/CALA (N- or C- prefix + a 3-letter name); those map
    too. Modified residues (``MODIFIED_RESIDUES``) are not resolved here.
    """
    name = name.upper()
    if name in HEAVY_ATOM_ORDER:
        return name
    if name in RESIDUE_ALIASES:
        return RESIDUE_ALIASES[name]
    if len(name) == 4 and name[0] in "NC":
        return canonical_residue_name(name[1:])
    return None


def canonical_atom_name(residue_type: str, atom_name: str) -> str:
    """The canonical name of a heavy atom of a residue of vocabulary type ``residue_type``."""
    name = atom_name.upper()
    name = RESIDUE_ATOM_NAME_ALIASES.get(residue_type, {}).get(name, name)
    return ATOM_NAME_ALIASES.get(name, name)
