"""Vocabulary, canonical order and Topology binding, on real structure files (the shipped chignolin; other
proteins from the development data, skipped without it: README, "Tests")."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from openmm.app import CharmmPsfFile, GromacsTopFile, Modeller, PDBFile, Topology

from openmm_equijump.protein.topology import (
    HEAVY_ATOM_ORDER, N_SLOTS, RESIDUE_ALIASES, VOCABULARY, TopologyError, bind_topology,
    canonical_atom_name, canonical_residue_name,
)

from helpers import FIXTURES, structure_file

AMBER14 = ["chignolin", "trpcage", "bba", "villin", "ntl9", "proteing", "a3d"]


def load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PDBFile warns about the duplicate atom of NTL9.pdb
        return PDBFile(str(structure_file(name)))


def without(pdb, names):
    """Modeller copy of ``pdb`` with every residue named in ``names`` deleted."""
    modeller = Modeller(pdb.topology, pdb.positions)
    modeller.delete([r for r in modeller.topology.residues() if r.name in names])
    return modeller


def check_canonical_order(topology, binding):
    """Every bound residue fills exactly the slots of its row, with the atoms of those names."""
    atoms = list(topology.atoms())
    for k, residue_type in enumerate(binding.residue_types):
        name = VOCABULARY[residue_type]
        row = HEAVY_ATOM_ORDER[name]
        assert binding.mask[k].sum() == len(row) and binding.mask[k, :len(row)].all()
        assert (binding.atom_index[k, 1 + len(row):] == -1).all()
        slot_names = [canonical_atom_name(name, atoms[i].name) for i in binding.atom_index[k, :1 + len(row)]]
        assert slot_names == ["CA", *row], binding.residue_labels[k]
        residue = atoms[binding.atom_index[k, 0]].residue
        slot_atoms = [atoms[i] for i in binding.atom_index[k, 1:1 + len(row)]]
        assert all(a.element.symbol[0] == n[0] for a, n in zip(slot_atoms, row))  # N, C, O, S atoms by name
        assert residue.name == binding.residue_labels[k].split()[0]


def test_vocabulary_and_heavy_atom_table():
    assert len(VOCABULARY) == 21 and VOCABULARY[-1] == "NLE" and len(set(VOCABULARY)) == 21
    assert tuple(HEAVY_ATOM_ORDER) == VOCABULARY
    for name, row in HEAVY_ATOM_ORDER.items():
        assert len(set(row)) == len(row) <= N_SLOTS and "CA" not in row
        assert row[:3] == ("N", "C", "O") and (name == "GLY" or row[3] == "CB")
    assert len(HEAVY_ATOM_ORDER["TRP"]) == 13
    assert all(parent in VOCABULARY for parent in RESIDUE_ALIASES.values())


@pytest.mark.parametrize("alias,parent", [
    ("HID", "HIS"), ("HIE", "HIS"), ("HIP", "HIS"), ("HSD", "HIS"), ("HSE", "HIS"), ("HSP", "HIS"),
    ("HISD", "HIS"), ("CYX", "CYS"), ("CYM", "CYS"), ("ASH", "ASP"), ("GLH", "GLU"), ("LYN", "LYS"),
    ("NALA", "ALA"), ("CTYR", "TYR"), ("NLE", "NLE"), ("MSE", None), ("XK2", None), ("HOH", None),
])
def test_residue_aliases(alias, parent):
    assert canonical_residue_name(alias) == parent


def test_atom_name_dialects():
    assert canonical_atom_name("ILE", "CD") == "CD1"
    assert canonical_atom_name("LEU", "CD1") == "CD1" and canonical_atom_name("GLU", "CD") == "CD"
    for terminal, canonical in [("OT1", "O"), ("OT2", "OXT"), ("OC1", "O"), ("OC2", "OXT"), ("O1", "O"), ("O2", "OXT")]:
        assert canonical_atom_name("GLY", terminal) == canonical


@pytest.mark.parametrize("protein", AMBER14)
def test_amber14_structures_fill_their_rows(protein):
    pdb = load(f"{protein}_amber14.pdb")
    binding = bind_topology(pdb.topology)
    check_canonical_order(pdb.topology, binding)
    atoms = list(pdb.topology.atoms())
    moved = set(binding.moved_index.tolist())
    rebuilt = set(binding.rebuilt_index.tolist())
    assert moved.isdisjoint(rebuilt) and len(moved) + len(rebuilt) == binding.n_atoms == len(atoms)
    assert {atoms[i].name for i in rebuilt if atoms[i].element.symbol != "H"} == {"OXT"}
    assert set(binding.rebuild_frame.ravel().tolist()) <= moved
    assert binding.fixed_index.size == 0


@pytest.mark.parametrize("name,n_residues", [("1FME.pdb", 28), ("2JOF.pdb", 20), ("2A3D.pdb", 73)])
def test_raw_pdb_files_bind(name, n_residues):
    pdb = load(name)  # NMR files: PDBFile reads the first model's topology
    binding = bind_topology(pdb.topology)
    assert binding.n_residues == n_residues
    check_canonical_order(pdb.topology, binding)


def test_norleucine():
    pdb = without(load("2F4K.pdb"), {"HOH"})
    binding = bind_topology(pdb.topology)
    nle = [k for k, label in enumerate(binding.residue_labels) if label.startswith("NLE")]
    assert len(nle) == 2 and all(binding.residue_types[k] == VOCABULARY.index("NLE") for k in nle)
    check_canonical_order(pdb.topology, binding)


def test_explicit_water_refused_and_fixed_on_request():
    pdb = load("CLN025.pdb")
    with pytest.raises(TopologyError, match=r"explicit water: HOH 101 \(chain A\).*Modeller.*non_protein=\"fixed\""):
        bind_topology(pdb.topology)
    binding = bind_topology(pdb.topology, non_protein="fixed")
    atoms = list(pdb.topology.atoms())
    assert {atoms[i].residue.name for i in binding.fixed_index} == {"HOH"}
    assert binding.n_residues == 10
    with pytest.raises(TopologyError, match="non_protein"):
        bind_topology(pdb.topology, non_protein="ignore")


def test_ligands_and_water_refused():
    pdb = load("4E43.pdb")
    message = r"explicit water: HOH .*ligands\): DMS 101 \(chain A\).*r.name in \(.ACT., .BME., .DMS., .GOL., .HOH.\)"
    with pytest.raises(TopologyError, match=message):
        bind_topology(pdb.topology)
    binding = bind_topology(pdb.topology, non_protein="fixed")
    atoms = list(pdb.topology.atoms())
    fixed_residues = {atoms[i].residue.name for i in binding.fixed_index}
    assert fixed_residues == {"HOH", "DMS", "ACT", "GOL", "BME"}
    assert len(binding.moved_index) + len(binding.rebuilt_index) + len(binding.fixed_index) == len(atoms)


def test_dna_refused_then_protein_chains_bind():
    pdb = load("1LMB.pdb")
    with pytest.raises(TopologyError, match=r"nucleic acids: A 1 \(chain 1\)"):
        bind_topology(pdb.topology)
    protein = without(pdb, {"A", "C", "G", "T", "HOH"})
    binding = bind_topology(protein.topology)
    assert binding.n_residues == 179 and set(binding.chain_index.tolist()) == {0, 1}
    check_canonical_order(protein.topology, binding)


def test_hiv_protease_dimer_with_modified_cysteine():
    pdb = load("1hvr.pdb")
    with pytest.raises(TopologyError, match=r"ligands\): XK2 263 \(chain A\)"):
        bind_topology(pdb.topology)
    protein = without(pdb, {"XK2"})
    binding = bind_topology(protein.topology)
    assert binding.n_residues == 198 and set(binding.chain_index.tolist()) == {0, 1}
    check_canonical_order(protein.topology, binding)
    atoms = list(protein.topology.atoms())
    cso = [k for k, label in enumerate(binding.residue_labels) if label.startswith("CSO")]
    assert len(cso) == 2 and all(binding.residue_types[k] == VOCABULARY.index("CYS") for k in cso)
    # CSO's OD rides in the SG-CB-CA frame; its HD with it
    for i, frame in zip(binding.rebuilt_index, binding.rebuild_frame):
        if atoms[i].residue.name == "CSO" and atoms[i].name in ("OD", "HD"):
            assert [atoms[j].name for j in frame] == ["SG", "CB", "CA"]


def test_missing_heavy_atoms_named():
    pdb = without(load("NuG2.pdb"), {"HOH"})
    message = r"missing heavy atom\(s\) CG, ND1, CD2, CE1, NE2 in HIS 1 \(chain A\).*addMissingAtoms"
    with pytest.raises(TopologyError, match=message):
        bind_topology(pdb.topology)
    pdb = load("chignolin_amber14.pdb")
    modeller = Modeller(pdb.topology, pdb.positions)
    modeller.delete([a for a in modeller.topology.atoms() if a.residue.index == 8 and a.name == "CZ2"])
    with pytest.raises(TopologyError, match=r"missing heavy atom\(s\) CZ2 in TRP 9 \(chain A\)"):
        bind_topology(modeller.topology)


def renamed(topology, residue_names=None, atom_names=None) -> Topology:
    """A copy of ``topology`` (same atom order and bonds) with residues/atoms renamed by index."""
    residue_names = residue_names or {}
    atom_names = atom_names or {}
    copy = Topology()
    atoms = []
    for chain in topology.chains():
        new_chain = copy.addChain(chain.id)
        for residue in chain.residues():
            new_residue = copy.addResidue(residue_names.get(residue.index, residue.name), new_chain, residue.id)
            for atom in residue.atoms():
                atoms.append(copy.addAtom(atom_names.get(atom.index, atom.name), atom.element, new_residue))
    for a, b in topology.bonds():
        copy.addBond(atoms[a.index], atoms[b.index])
    return copy


def test_unknown_residue_named():
    topology = load("chignolin_amber14.pdb").topology
    with pytest.raises(TopologyError, match=r"unknown amino acid MSE 3 \(chain A\).*replaceNonstandardResidues"):
        bind_topology(renamed(topology, residue_names={2: "MSE"}))


def test_unexpected_heavy_atom_named():
    topology = load("chignolin_amber14.pdb").topology
    cg = next(a.index for a in topology.atoms() if a.residue.index == 4 and a.name == "CG")
    with pytest.raises(TopologyError, match=r"unexpected heavy atom CX in GLU 5 \(chain A\)"):
        bind_topology(renamed(topology, atom_names={cg: "CX"}))


def test_duplicate_atoms_named():
    topology = load("chignolin_amber14.pdb").topology
    atoms = list(topology.atoms())
    cg = next(a.index for a in atoms if a.residue.index == 4 and a.name == "CG")
    with pytest.raises(TopologyError, match=r"duplicate atom CB in GLU 5 \(chain A\).*Modeller.delete"):
        bind_topology(renamed(topology, atom_names={cg: "CB"}))
    ha = next(a.index for a in atoms if a.residue.index == 4 and a.name == "HA")
    with pytest.raises(TopologyError, match=r"duplicate atom H in GLU 5 \(chain A\).*addHydrogens"):
        bind_topology(renamed(topology, atom_names={ha: "H"}))


def test_charmm_terminal_patch_atoms_are_carried():
    """NTL9.pdb ends in CHARMM's CT2 amide patch: the NT inside ALA 39 rides in the C-CA-O frame."""
    topology = load("NTL9.pdb").topology  # PDBFile drops its duplicate H (with a warning)
    binding = bind_topology(topology)
    atoms = list(topology.atoms())
    nt = next(a.index for a in atoms if a.name == "NT")
    frame = binding.rebuild_frame[binding.rebuilt_index.tolist().index(nt)]
    assert [atoms[j].name for j in frame] == ["C", "CA", "O"]
    assert all(atoms[j].residue.name == "ALA" and atoms[j].residue.id == "39" for j in frame)
    check_canonical_order(topology, binding)


def test_hydrogens_need_bonds():
    topology = load("chignolin_amber14.pdb").topology
    bare = Topology()
    chain = bare.addChain("A")
    for residue in topology.residues():
        r = bare.addResidue(residue.name, chain, residue.id)
        for atom in residue.atoms():
            bare.addAtom(atom.name, atom.element, r)
    with pytest.raises(TopologyError, match=r"hydrogen atom H \(index 1\) of TYR 1 \(chain A\).*createStandardBonds"):
        bind_topology(bare)


def test_group_masses():
    topology = load("chignolin_amber14.pdb").topology
    binding = bind_topology(topology)
    atoms = list(topology.atoms())
    for atom in atoms:
        group = atoms[binding.group_index[atom.index]]
        assert group.element.symbol != "H"
        if atom.element.symbol == "H":
            assert any({atom, group} == {a, b} for a, b in topology.bonds())
    ca = next(a for a in atoms if a.residue.index == 6 and a.name == "CA")  # glycine: CH2
    assert binding.expected_group_mass[ca.index] == pytest.approx(12.0107 + 2 * 1.007947, abs=1e-3)
    assert binding.atomic_numbers.tolist() == [a.element.atomic_number for a in atoms]


# --- the dialects of other programs, read with their own OpenMM loaders and as written ---------------------

def names_as_written(path: Path):
    """[(residue name, atom name)] of the atom section of a PSF or GROMACS .top fixture, as written."""
    text = path.read_text()
    if path.suffix == ".psf":
        section = text.split("!NATOM")[1].split("!NBOND")[0]
        return [(f[3], f[4]) for f in (line.split() for line in section.strip().splitlines()[:-1]) if f]
    section = re.split(r"\[ atoms \]", text)[1].split("[ bonds ]")[0]
    return [(f[3], f[4]) for f in (line.split() for line in section.splitlines()) if f and not f[0].startswith(";")]


@pytest.mark.parametrize("fixture,source,residues", [
    ("chignolin_charmm.psf", "chignolin_amber14.pdb", None), ("chignolin_gromacs.top", "chignolin_amber14.pdb", None),
    ("a3d_60-72_charmm.psf", "a3d_amber14.pdb", range(60, 73)),
    ("a3d_60-72_gromacs.top", "a3d_amber14.pdb", range(60, 73)),
])
def test_program_dialects_bind_to_the_same_canonical_order(fixture, source, residues):
    """Fixtures written by tests/fixtures/make_fixtures.py from the shared structures (same atom order)."""
    pdb = load(source)
    modeller = Modeller(pdb.topology, pdb.positions)
    if residues is not None:
        modeller.delete([r for r in modeller.topology.residues() if r.index not in residues])
    reference = bind_topology(modeller.topology)
    path = FIXTURES / fixture
    loaded = CharmmPsfFile(str(path)).topology if path.suffix == ".psf" else GromacsTopFile(str(path)).topology
    written = names_as_written(path)
    assert len(written) == loaded.getNumAtoms()
    # the loader's topology (OpenMM normalizes some names), and the names exactly as the program wrote them
    as_written = renamed(loaded, residue_names={r.index: written[next(r.atoms()).index][0] for r in loaded.residues()},
                         atom_names={i: n for i, (_, n) in enumerate(written)})
    assert {n for _, n in written} & {"OT1", "OT2", "OC1", "OC2", "HN", "CD"}
    for topology in (loaded, as_written):
        binding = bind_topology(topology)
        np.testing.assert_array_equal(binding.atom_index, reference.atom_index)
        np.testing.assert_array_equal(binding.residue_types, reference.residue_types)
        np.testing.assert_array_equal(binding.rebuilt_index, reference.rebuilt_index)
        np.testing.assert_array_equal(binding.rebuild_frame, reference.rebuild_frame)
        np.testing.assert_array_equal(binding.expected_group_mass, reference.expected_group_mass)
