"""Make a structure file simulation-ready for amber14 with OBC2 implicit solvent.

PDBFixer does the chemistry (first model, missing heavy atoms, hydrogens, non-standard residues); this module
decides what to keep and says, in plain words, everything it changed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openmm.app as app
import openmm.unit as unit
from pdbfixer import PDBFixer

from ..errors import EquiJumpError

AMINO_ACIDS = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split()
)
CAPS = frozenset({"ACE", "NME", "NHE", "NH2"})
NUCLEIC_ACIDS = frozenset("A C G U I DA DC DG DT DI".split())
#: The structure files PDBFixer reads.
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdbx")


class StructureError(EquiJumpError, ValueError):
    """A structure file that cannot be prepared: not a PDB or PDBx/mmCIF file, or no protein in it."""


@dataclass
class PreparedStructure:
    """A protein ready for ``ForceField.createSystem``, and the list of what was changed to get there."""

    topology: app.Topology
    positions: list
    changes: list[str] = field(default_factory=list)


def _chain_kind(chain) -> str:
    names = {residue.name for residue in chain.residues()}
    if names & NUCLEIC_ACIDS and not names & AMINO_ACIDS:
        return "nucleic acid"
    if names <= {"HOH", "WAT", "NA", "CL", "K", "MG", "CA", "ZN"}:
        return "solvent/ions"
    if any(residue.name in AMINO_ACIDS for residue in chain.residues()):
        return "protein"
    return "other"


# CHARMM writes a C-terminal amide (CT2 patch) as atoms NT, HT1/HT2 (or H/H2) inside the last residue;
# amber14 models it as a separate NHE residue.
_AMIDE_NITROGEN = "NT"


def _split_terminal_amides(fixer: PDBFixer, changes: list[str]) -> PDBFixer:
    """Move CHARMM terminal-amide nitrogens out of their residue into an NHE cap (hydrogens re-added later)."""
    amides = [a for a in fixer.topology.atoms() if a.name == _AMIDE_NITROGEN and a.residue.name in AMINO_ACIDS]
    if not amides:
        return fixer
    nm = np.asarray(fixer.positions.value_in_unit(unit.nanometer))
    # Atom names of amide hydrogens clash with backbone ones (H, H2), and bonds are not read for NT:
    # a hydrogen goes with the amide when NT is its nearest heavy atom.
    amide_hydrogens = set()
    for amide in amides:
        heavy = [a for a in amide.residue.atoms() if a.element.symbol != "H"]
        for atom in amide.residue.atoms():
            if atom.element.symbol == "H":
                nearest = min(heavy, key=lambda h: np.linalg.norm(nm[h.index] - nm[atom.index]))
                if nearest is amide:
                    amide_hydrogens.add(atom)
    topology = app.Topology()
    positions = []
    for chain in fixer.topology.chains():
        new_chain = topology.addChain(chain.id)
        for residue in chain.residues():
            new_residue = topology.addResidue(residue.name, new_chain, residue.id, residue.insertionCode)
            amide = next((a for a in residue.atoms() if a.name == _AMIDE_NITROGEN), None)
            for atom in residue.atoms():
                if atom is amide or atom in amide_hydrogens:
                    continue
                topology.addAtom(atom.name, atom.element, new_residue)
                positions.append(nm[atom.index])
            if amide is not None:
                cap = topology.addResidue("NHE", new_chain, str(int(residue.id) + 1) if residue.id.isdigit() else residue.id)
                topology.addAtom("N", amide.element, cap)
                positions.append(nm[amide.index])
                changes.append(f"moved terminal amide {amide.name} of {residue.name} {residue.id} into an NHE cap")
    text = io.StringIO()
    app.PDBFile.writeFile(topology, np.array(positions) * unit.nanometer, text, keepIds=True)
    text.seek(0)
    return PDBFixer(pdbfile=text)


def read_structure_file(path: Path, read):
    """``read(path)`` (PDBFixer, PDBFile, PDBxFile: anything with a topology) with a file the reader cannot parse,
    or one without atoms, refused as a StructureError naming it."""
    try:
        structure = read(str(path))
    except Exception as error:  # the readers fail on bad text with whatever their parsing meets first
        raise StructureError(f"{path} is not a readable PDB or PDBx/mmCIF file ({type(error).__name__}: {error}); "
                             "is it complete?") from None
    if structure.topology.getNumAtoms() == 0:
        raise StructureError(f"{path} holds no atoms: is it a complete PDB or PDBx/mmCIF file?")
    return structure


def prepare_structure(path: str | Path, chains: list[str] | None = None, ph: float = 7.0) -> PreparedStructure:
    """Read ``path`` (PDB or PDBx/mmCIF) and return the protein with hydrogens added at ``ph``.

    Keeps the first model; keeps ``chains`` (chain ids) or, by default, every chain that holds amino acids;
    removes heterogens and water; replaces non-standard residues by their standard parents (norleucine NLE
    becomes LEU, since amber14 has no parameters for it); adds missing heavy atoms and hydrogens.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"structure file {path} does not exist")
    if path.suffix.lower() not in STRUCTURE_SUFFIXES:
        raise StructureError(f"structure file {path} is not a PDB or PDBx/mmCIF file ({', '.join(STRUCTURE_SUFFIXES)})")
    changes: list[str] = []
    fixer = _split_terminal_amides(read_structure_file(path, lambda name: PDBFixer(filename=name)), changes)

    available = [(chain.id, _chain_kind(chain), chain) for chain in fixer.topology.chains()]
    if chains:
        unknown = sorted(set(chains) - {cid for cid, _, _ in available})
        if unknown:
            raise StructureError(
                f"{path.name}: chain(s) {', '.join(unknown)} not found; the file has chains "
                f"{', '.join(cid for cid, _, _ in available)}"
            )
        drop = [i for i, (cid, _, _) in enumerate(available) if cid not in chains]
    else:
        drop = [i for i, (_, kind, _) in enumerate(available) if kind != "protein"]
    for i in drop:
        cid, kind, chain = available[i]
        changes.append(f"removed chain {cid} ({kind}, {len(list(chain.residues()))} residues); "
                       "choose chains with prepare_structure(chains=...) or md --chains")
    if len(drop) == len(available):
        raise StructureError(f"{path.name}: no protein chain left to simulate (chains: {[c for c, _, _ in available]})")
    fixer.removeChains(drop)

    fixer.findMissingResidues()
    fixer.missingResidues = {}  # never invent loops: only complete the residues that are there
    fixer.findNonstandardResidues()
    for residue, replacement in fixer.nonstandardResidues:
        changes.append(
            f"replaced non-standard residue {residue.name} {residue.id} (chain {residue.chain.id}) by {replacement}: "
            f"amber14 has no parameters for {residue.name}"
        )
    fixer.replaceNonstandardResidues()
    heterogens = sorted({r.name for r in fixer.topology.residues() if r.name not in AMINO_ACIDS | CAPS})
    if heterogens:
        changes.append(f"removed heterogens and water: {', '.join(heterogens)}")
    caps = {r.index for r in fixer.topology.residues() if r.name in CAPS}
    if caps:
        # removeHeterogens would drop the caps too: delete the other heterogens by hand.
        keep = AMINO_ACIDS | CAPS
        modeller = app.Modeller(fixer.topology, fixer.positions)
        modeller.delete([r for r in modeller.topology.residues() if r.name not in keep])
        fixer.topology, fixer.positions = modeller.topology, modeller.positions
    else:
        fixer.removeHeterogens(keepWater=False)
    fixer.findMissingAtoms()
    for residue, atoms in fixer.missingAtoms.items():
        changes.append(f"added missing heavy atoms {', '.join(a.name for a in atoms)} to {residue.name} {residue.id}")
    for residue, atoms in fixer.missingTerminals.items():
        changes.append(f"added terminal atoms {', '.join(atoms)} to {residue.name} {residue.id}")
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(ph)
    if fixer.topology.getPeriodicBoxVectors() is not None:
        # Implicit solvent has no box. A crystal's CRYST1 cell kept here would be written into every DCD frame,
        # and mdtraj would then wrap C-alpha distances of a protein larger than that cell.
        fixer.topology.setPeriodicBoxVectors(None)
        changes.append("dropped the crystal unit cell (CRYST1): implicit-solvent runs are not periodic")
    return PreparedStructure(fixer.topology, fixer.positions, changes)
