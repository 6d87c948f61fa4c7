"""Residue vocabulary, canonical heavy-atom order, and the index maps of one OpenMM Topology.

The model moves the heavy atoms of each residue as a tensor cloud: the C-alpha (the anchor) plus up to 13
other heavy atoms in the canonical order of ``HEAVY_ATOM_ORDER`` (N, C, O, CB, then the side chain).
Every other atom of the System is *rebuilt* after a jump (hydrogens, the terminal OXT, cap atoms) or *fixed*
(non-protein atoms, only with ``non_protein="fixed"``). ``bind_topology`` computes all of these index maps
once, and raises a ``TopologyError`` naming the residue or atom (and the fix) when it cannot.

Decisions (also in the docstrings below):

- Vocabulary: the 20 standard amino acids and norleucine (NLE). Force-field variants (protonation states,
  disulfides, Amber/CHARMM/GROMACS spellings, GROMACS-Amber terminal names such as NALA/CALA) map to
  their parent; see ``RESIDUE_ALIASES``.
- Hydrogens are found by their bonds, never by name, so hydrogen naming dialects (HN, HT1, 1HB, ...) need no
  table; the Topology must have bonds (PDBFile, Modeller, CharmmPsfFile and GromacsTopFile give them).
- Modified residues are refused unless listed in ``MODIFIED_RESIDUES``. Only CSO (S-hydroxycysteine, e.g.
  in 1HVR) is listed: it is bound as CYS, and its extra OD (and HD) are carried rigidly with the SG-CB-CA
  frame, like hydrogens. MSE and other modified residues are refused: replace them with
  ``PDBFixer.findNonstandardResidues()`` + ``replaceNonstandardResidues()``.
- Caps (ACE, NME, NHE/NH2 residues, and CHARMM's terminal patch atoms CAY/CY/OY and NT/CAT written inside the
  terminal residue) are not moved by the model: they are rebuilt rigidly in the frame of the backbone of the
  residue they are bonded to (N-CA-C for N-terminal caps, C-CA-O for C-terminal caps), so their torsions
  relative to that residue keep the values they had before the jump. The terminal OXT is rebuilt the same way.
- Non-protein molecules (water, ions, ligands, nucleic acids) are refused by default: a jump moves the protein
  and would leave the solvent where the old protein was. ``non_protein="fixed"`` keeps every atom of a
  molecule that is not bonded to the protein exactly where it is (useful for a frozen ligand or a
  membrane-like environment; never for explicit solvent, which the jump would overlap).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from openmm.app import Topology, element

from ..errors import EquiJumpError
from .vocabulary import (C_CAPS, C_TERMINAL_FRAME, CARRIED_TERMINAL_ATOMS, HEAVY_ATOM_ORDER, MODIFIED_RESIDUES,
                         N_CAPS, N_SLOTS, N_TERMINAL_FRAME, NUCLEIC_NAMES, RESIDUE_ALIASES, VOCABULARY, WATER_NAMES,
                         canonical_atom_name, canonical_residue_name)

NON_PROTEIN_OPTIONS = ("error", "fixed")


class TopologyError(EquiJumpError, ValueError):
    """A Topology the model cannot be bound to; the message names the residue or atom and the fix."""


@dataclass(frozen=True)
class ProteinBinding:
    """The index maps between one OpenMM Topology and the tensor cloud of its protein.

    N residues, ``n_atoms`` particles of the whole System; all arrays are numpy.

    residue_types:       (N,) int64, index into ``VOCABULARY`` (the ``S`` of the tensor cloud)
    atom_index:          (N, 14) int64, column 0 = the C-alpha, columns 1..13 = the atoms of the canonical
                         slots of ``HEAVY_ATOM_ORDER``; -1 where padded
    mask:                (N, 13) bool, True where a slot holds an atom (``atom_index[:, 1:] >= 0``)
    chain_index:         (N,) int64, index of each residue's chain among the protein chains
    residue_labels:      N strings such as ``"TYR 1 (chain A)"``
    atomic_numbers:      (n_atoms,) int64, 0 for particles without element (virtual sites)
    group_index:         (n_atoms,) int64, the heavy atom whose mass group an atom belongs to (a hydrogen ->
                         its bonded heavy atom, anything else -> itself)
    expected_group_mass: (n_atoms,) float64, standard mass (amu) of that group: heavy atom + its hydrogens,
                         so it does not change under hydrogen mass repartitioning. Element masses of
                         ``openmm.app.element``; force fields round them (amber14: H 1.008), so compare a System's
                         group masses with a tolerance of ~0.01 amu per hydrogen
    rebuilt_index:       (M,) int64, atoms rebuilt after a jump (hydrogens, OXT, caps, carried atoms)
    rebuild_frame:       (M, 3) int64, for each rebuilt atom the (origin, axis, plane) atoms of the local frame
                         it keeps its coordinates in; all three are moved by the model
    fixed_index:         (K,) int64, non-protein atoms kept where they are (``non_protein="fixed"``)
    covalent_pairs:      (C, 5) int64 rows (residue a, column a, residue b, column b, bonds apart), columns of
                         ``atom_index`` (0 = the C-alpha), a before b: every pair of moved atoms 1, 2 or 3 bonds
                         apart along bonds between moved atoms (``covalent``)
    """

    n_atoms: int
    residue_types: np.ndarray
    atom_index: np.ndarray
    mask: np.ndarray
    chain_index: np.ndarray
    residue_labels: Tuple[str, ...]
    atomic_numbers: np.ndarray
    group_index: np.ndarray
    expected_group_mass: np.ndarray
    rebuilt_index: np.ndarray
    rebuild_frame: np.ndarray
    fixed_index: np.ndarray
    covalent_pairs: np.ndarray

    @property
    def n_residues(self) -> int:
        return int(self.residue_types.shape[0])

    @property
    def moved_index(self) -> np.ndarray:
        """(n_moved,) int64: the atoms the model moves, in tensor-cloud order (residue by residue, CA first)."""
        return self.atom_index[self.atom_index >= 0]


def residue_label(residue) -> str:
    """How errors name a residue: name, number and chain, as in the file it came from."""
    chain = residue.chain.id.strip() or f"#{residue.chain.index}"
    return f"{residue.name} {residue.id} (chain {chain})"


def atom_label(atom) -> str:
    return f"atom {atom.name} (index {atom.index}) of {residue_label(atom.residue)}"


def _is_hydrogen(atom) -> bool:
    return atom.element is not None and atom.element.atomic_number == 1


def _neighbours(topology: Topology) -> List[List[int]]:
    """Bonded neighbours of every atom, without the duplicate bonds PDBFile creates from CONECT + templates."""
    neighbours: List[set] = [set() for _ in range(topology.getNumAtoms())]
    for a, b in topology.bonds():
        if a.index != b.index:
            neighbours[a.index].add(b.index)
            neighbours[b.index].add(a.index)
    return [sorted(n) for n in neighbours]


def _classify(residue) -> str:
    """'protein', 'modified', 'n_cap', 'c_cap', 'water', 'nucleic', 'ion', 'amino_acid' or 'other'."""
    name = residue.name.upper()
    if canonical_residue_name(name) is not None:
        return "protein"
    if name in MODIFIED_RESIDUES:
        return "modified"
    if name in N_CAPS:
        return "n_cap"
    if name in C_CAPS:
        return "c_cap"
    if name in WATER_NAMES:
        return "water"
    if name in NUCLEIC_NAMES:
        return "nucleic"
    atom_names = {a.name.upper() for a in residue.atoms()}
    if {"N", "CA", "C"} <= atom_names:
        return "amino_acid"
    if len(atom_names) == 1:
        return "ion"
    return "other"


def _listing(labels: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


_NON_PROTEIN_WORDS = {"nucleic": "nucleic acids", "water": "explicit water", "ion": "ions",
                      "other": "non-protein molecules (ligands)"}


def _refuse_non_protein(found: Dict[str, List]) -> TopologyError:
    """The error for non-protein residues, by kind; its fix names the residue names to delete."""
    names = sorted({r.name for residues in found.values() for r in residues})
    listing = "; ".join(f"{_NON_PROTEIN_WORDS[kind]}: {_listing([residue_label(r) for r in residues])}"
                        for kind, residues in found.items())
    return TopologyError(
        f"the topology contains {listing}. The model moves only the protein, so a jump would leave them where "
        "the old protein was. Remove them before binding: modeller = Modeller(topology, positions); "
        f"modeller.delete([r for r in modeller.topology.residues() if r.name in {tuple(names)!r}]) (implicit "
        "solvent needs no water), or pass non_protein=\"fixed\" to keep them exactly where they are on purpose "
        "(never for explicit solvent)."
    )


def _molecules_bonded_to(topology: Topology, neighbours: List[List[int]], seeds: Iterable[int]) -> set:
    """Indices of all atoms connected by bonds to any atom of ``seeds``."""
    seen = set(seeds)
    stack = list(seen)
    while stack:
        for j in neighbours[stack.pop()]:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return seen


def bind_topology(topology: Topology, non_protein: str = "error") -> ProteinBinding:
    """Bind an OpenMM Topology (with bonds, e.g. from PDBFile, Modeller, CharmmPsfFile, GromacsTopFile).

    ``non_protein``: "error" (default) refuses water, ions, ligands and nucleic acids; "fixed" keeps every
    molecule that is not bonded to the protein exactly where it is during jumps. Amino acids outside the
    vocabulary are refused either way. Raises ``TopologyError`` naming the culprit and the fix.
    """
    if non_protein not in NON_PROTEIN_OPTIONS:
        raise TopologyError(f"non_protein={non_protein!r}: expected one of {NON_PROTEIN_OPTIONS}")
    atoms = list(topology.atoms())
    neighbours = _neighbours(topology)
    kinds, protein_residues, fixed = _split_residues(topology, neighbours, non_protein)

    residue_types, atom_rows, chain_of, labels = [], [], [], []
    carried: Dict[int, Tuple[int, int, int]] = {}  # carried heavy atom -> frame
    chain_ids: Dict[int, int] = {}
    for residue in protein_residues:
        rtype, row, residue_carried = _residue_row(residue)
        carried.update(residue_carried)
        residue_types.append(VOCABULARY.index(rtype))
        atom_rows.append(row)
        chain_of.append(chain_ids.setdefault(residue.chain.index, len(chain_ids)))
        labels.append(residue_label(residue))
    atom_index = np.asarray(atom_rows, dtype=np.int64)
    moved = set(int(i) for i in atom_index[atom_index >= 0])
    fixed.extend(_carry_caps(kinds, atoms, neighbours, protein_residues, residue_types, non_protein, carried))
    rebuilt, frames = _rebuilt_atoms(atoms, neighbours, moved, set(fixed), carried)
    atomic_numbers, group_index, expected_group_mass = _mass_groups(atoms, neighbours)
    return ProteinBinding(
        n_atoms=len(atoms),
        residue_types=np.asarray(residue_types, dtype=np.int64),
        atom_index=atom_index,
        mask=atom_index[:, 1:] >= 0,
        chain_index=np.asarray(chain_of, dtype=np.int64),
        residue_labels=tuple(labels),
        atomic_numbers=atomic_numbers,
        group_index=group_index,
        expected_group_mass=expected_group_mass,
        rebuilt_index=np.asarray(rebuilt, dtype=np.int64),
        rebuild_frame=np.asarray(frames, dtype=np.int64).reshape(-1, 3),
        fixed_index=np.asarray(sorted(set(fixed)), dtype=np.int64),
        covalent_pairs=_covalent_pairs(atom_index, neighbours),
    )


def _split_residues(topology: Topology, neighbours: List[List[int]], non_protein: str
                    ) -> Tuple[Dict[str, List], List, List[int]]:
    """(residues by kind, the protein residues in order, the atoms of non-protein molecules to keep fixed);
    refuses unknown amino acids, non-protein residues bonded to the protein, and (``non_protein="error"``)
    any non-protein molecule."""
    kinds: Dict[str, List] = {}
    for residue in topology.residues():
        kinds.setdefault(_classify(residue), []).append(residue)
    if "amino_acid" in kinds:
        labels = [residue_label(r) for r in kinds["amino_acid"]]
        raise TopologyError(
            f"unknown amino acid {_listing(labels)}: not in the vocabulary {VOCABULARY}. If it is a variant of "
            "a standard residue, rename it to its parent; otherwise replace it with PDBFixer "
            "(fixer.findNonstandardResidues(); fixer.replaceNonstandardResidues())."
        )
    protein_residues = [r for r in topology.residues() if _classify(r) in ("protein", "modified")]
    if not protein_residues:
        raise TopologyError("the topology contains no amino-acid residue of the vocabulary: nothing to bind")
    protein_atoms = _molecules_bonded_to(topology, neighbours, (a.index for r in protein_residues for a in r.atoms()))
    fixed: List[int] = []
    refused: Dict[str, List] = {}
    for kind in _NON_PROTEIN_WORDS:
        for residue in kinds.get(kind, []):
            if any(a.index in protein_atoms for a in residue.atoms()):
                raise TopologyError(
                    f"{residue_label(residue)} is bonded to the protein but is not an amino acid of the "
                    f"vocabulary {VOCABULARY} nor a cap (ACE, NME, NHE): replace or remove it (PDBFixer, "
                    "Modeller.delete).")
            refused.setdefault(kind, []).append(residue)
            fixed.extend(a.index for a in residue.atoms())
    if refused and non_protein == "error":
        raise _refuse_non_protein(refused)
    return kinds, protein_residues, fixed


def _heavy_atoms_by_name(residue, rtype: str) -> Dict[str, object]:
    """The heavy atoms of ``residue`` by canonical name; refuses duplicates and atoms without element."""
    by_name: Dict[str, object] = {}
    hydrogen_names: Dict[str, int] = {}
    for atom in residue.atoms():
        if _is_hydrogen(atom):
            if atom.name in hydrogen_names:
                raise TopologyError(
                    f"duplicate atom {atom.name} in {residue_label(residue)} (indices "
                    f"{hydrogen_names[atom.name]} and {atom.index}): the bonds of such a file are ambiguous. "
                    "Delete the hydrogens and add them again (Modeller.delete, then Modeller.addHydrogens)")
            hydrogen_names[atom.name] = atom.index
            continue
        if atom.element is None:
            raise TopologyError(f"{atom_label(atom)} has no element: a virtual site inside a protein "
                                "residue is not supported; build the System without it")
        canonical = canonical_atom_name(rtype, atom.name)
        if canonical in by_name:
            raise TopologyError(
                f"duplicate atom {canonical} in {residue_label(residue)} (indices {by_name[canonical].index} "
                f"and {atom.index}): keep one (e.g. alternate locations: select one with PDBFixer or "
                "Modeller.delete)")
        by_name[canonical] = atom
    return by_name


def _residue_row(residue) -> Tuple[str, List[int], Dict[int, Tuple[int, int, int]]]:
    """(vocabulary type, its ``atom_index`` row: CA then the 13 slots, -1 padded, the carried heavy atoms ->
    their frame) of one protein residue."""
    name = residue.name.upper()
    extra_frames: Dict[str, Tuple[str, str, str]] = {}
    if name in MODIFIED_RESIDUES:
        rtype, extra_frames = MODIFIED_RESIDUES[name]
    else:
        rtype = canonical_residue_name(name)
    by_name = _heavy_atoms_by_name(residue, rtype)
    slots = HEAVY_ATOM_ORDER[rtype]
    carried = {}
    for canonical, atom in by_name.items():
        if canonical == "CA" or canonical in slots:
            continue
        frame_names = extra_frames.get(canonical) or CARRIED_TERMINAL_ATOMS.get(canonical)
        if frame_names is None:
            raise TopologyError(
                f"unexpected heavy atom {atom.name} in {residue_label(residue)}: {rtype} has "
                f"CA, {', '.join(slots)} (+ OXT at a C-terminus). Rename it to its canonical name or "
                "remove it (Modeller.delete)")
        carried[atom.index] = frame_names
    missing = [a for a in ("CA",) + slots if a not in by_name]
    if missing:
        raise TopologyError(
            f"missing heavy atom(s) {', '.join(missing)} in {residue_label(residue)}: add them with PDBFixer "
            "(fixer.findMissingResidues(); fixer.findMissingAtoms(); fixer.addMissingAtoms())")
    row = [by_name["CA"].index] + [by_name[n].index for n in slots] + [-1] * (N_SLOTS - len(slots))
    return rtype, row, {index: tuple(by_name[n].index for n in names) for index, names in carried.items()}


def _carry_caps(kinds: Dict[str, List], atoms, neighbours: List[List[int]], protein_residues: List,
                residue_types: List[int], non_protein: str, carried: Dict[int, Tuple[int, int, int]]) -> List[int]:
    """Carry the heavy atoms of every cap in the backbone frame of the residue it is bonded to (added to
    ``carried``); returns the atoms of unbonded caps kept fixed (``non_protein="fixed"``)."""
    residue_row = {r.index: k for k, r in enumerate(protein_residues)}
    fixed = []
    for kind, frame_names in (("n_cap", N_TERMINAL_FRAME), ("c_cap", C_TERMINAL_FRAME)):
        for cap in kinds.get(kind, []):
            anchor = _bonded_protein_residue(cap, atoms, neighbours, residue_row)
            if anchor is None:
                if non_protein == "fixed":
                    fixed.extend(a.index for a in cap.atoms())
                    continue
                raise TopologyError(
                    f"cap {residue_label(cap)} is not bonded to an amino acid: add bonds "
                    "(topology.createStandardBonds()) or remove it")
            by_name = {canonical_atom_name(VOCABULARY[residue_types[anchor]], a.name): a
                       for a in protein_residues[anchor].atoms()}
            frame = tuple(by_name[n].index for n in frame_names)
            for atom in cap.atoms():
                if not _is_hydrogen(atom):
                    carried[atom.index] = frame
    return fixed


def _rebuilt_atoms(atoms, neighbours: List[List[int]], moved: set, fixed: set,
                   carried: Dict[int, Tuple[int, int, int]]) -> Tuple[List[int], List[Tuple[int, int, int]]]:
    """(rebuilt atoms, their frames): every atom neither moved nor fixed; a hydrogen in the frame of its
    parent heavy atom (or its parent's carried frame)."""
    rebuilt, frames = [], []
    for atom in atoms:
        i = atom.index
        if i in moved or i in fixed:
            continue
        if i in carried:
            rebuilt.append(i)
            frames.append(carried[i])
            continue
        if not _is_hydrogen(atom):
            raise TopologyError(f"{atom_label(atom)} is neither moved by the model nor rebuilt: remove it")
        heavy = [j for j in neighbours[i] if not _is_hydrogen(atoms[j])]
        if len(heavy) != 1:
            raise TopologyError(
                f"hydrogen {atom_label(atom)} is bonded to {len(heavy)} heavy atoms, expected exactly one. "
                "The Topology needs its bonds: load it with PDBFile/PDBxFile, CharmmPsfFile or GromacsTopFile, "
                "or call topology.createStandardBonds(); check for duplicate hydrogen names")
        parent = heavy[0]
        rebuilt.append(i)
        frames.append(carried[parent] if parent in carried else _hydrogen_frame(parent, atoms, neighbours, moved))
    return rebuilt, frames


def _mass_groups(atoms, neighbours: List[List[int]]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(atomic_numbers, group_index, expected_group_mass) of ``ProteinBinding``."""
    n_atoms = len(atoms)
    atomic_numbers = np.array([a.element.atomic_number if a.element is not None else 0 for a in atoms],
                              dtype=np.int64)
    group_index = np.arange(n_atoms, dtype=np.int64)
    for atom in atoms:
        if _is_hydrogen(atom):
            heavy = [j for j in neighbours[atom.index] if not _is_hydrogen(atoms[j])]
            if len(heavy) == 1:
                group_index[atom.index] = heavy[0]
    masses = np.array([a.element.mass.value_in_unit(element.daltons) if a.element is not None else 0.0
                       for a in atoms], dtype=np.float64)
    group_mass = np.zeros(n_atoms, dtype=np.float64)
    np.add.at(group_mass, group_index, masses)
    return atomic_numbers, group_index, group_mass[group_index]


def _covalent_pairs(atom_index: np.ndarray, neighbours: List[List[int]]) -> np.ndarray:
    """``ProteinBinding.covalent_pairs``: a breadth-first walk of up to three bonds from every moved atom."""
    place = {int(i): (r, c) for (r, c), i in np.ndenumerate(atom_index) if i >= 0}
    apart: Dict[Tuple[int, int], int] = {}
    for start in place:
        frontier, seen = [start], {start}
        for hops in (1, 2, 3):
            frontier = [b for a in frontier for b in neighbours[a] if b in place and b not in seen]
            seen.update(frontier)
            for b in frontier:
                apart.setdefault(tuple(sorted((place[start], place[b]))), hops)
    return np.asarray([[ra, ca, rb, cb, hops] for ((ra, ca), (rb, cb)), hops in sorted(apart.items())],
                      dtype=np.int64).reshape(-1, 5)


def _bonded_protein_residue(cap, atoms, neighbours, residue_row) -> Optional[int]:
    """Row of the amino-acid residue a cap is bonded to, or None."""
    for atom in cap.atoms():
        for j in neighbours[atom.index]:
            row = residue_row.get(atoms[j].residue.index)
            if row is not None:
                return row
    return None


def _hydrogen_frame(parent: int, atoms, neighbours: List[List[int]], moved: set) -> Tuple[int, int, int]:
    """(parent, axis, plane) for a hydrogen on a moved heavy atom: two of the parent's moved heavy neighbours
    (HB2/HB3 on CB -> CA and CG), or, for a parent with one, that neighbour and one of its own."""
    heavy = [j for j in neighbours[parent] if j in moved]
    if len(heavy) >= 2:
        return parent, heavy[0], heavy[1]
    if len(heavy) == 1:
        second = [j for j in neighbours[heavy[0]] if j in moved and j != parent]
        if second:
            return parent, heavy[0], second[0]
    raise TopologyError(
        f"cannot place the hydrogens of {atom_label(atoms[parent])}: it has too few bonded heavy atoms in the "
        "Topology. Add the missing bonds (topology.createStandardBonds(), or load the file with PDBFile)")
