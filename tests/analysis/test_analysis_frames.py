"""Loading for analysis: DCD frame intervals, heavy-atom matching across dialects, clear errors."""
import struct

import mdtraj as md
import numpy as np
import pytest
from openmm import unit
from openmm.app import DCDFile, PDBFile

from openmm_equijump.analysis import AtomMatchError, ensemble_from_trajectories, load_ensemble
from openmm_equijump.trajectory_files import dcd_header_interval_ps
from openmm_equijump.analysis.frames import match_calpha, match_heavy_atoms

from helpers import structure_file


def test_shared_dcds_are_10_ps_per_frame(md_dir):
    for seed in (1, 2, 101):
        assert dcd_header_interval_ps(md_dir / f"chignolin_obc2_350K_seed{seed}.dcd") == 10.0


def test_dcd_interval_from_openmm_writer(tmp_path, md_dir):
    pdb = PDBFile(str(md_dir / "chignolin_amber14.pdb"))
    path = tmp_path / "x.dcd"
    with open(path, "wb") as handle:
        writer = DCDFile(handle, pdb.topology, 2.0 * unit.femtoseconds, firstStep=0, interval=50)
        writer.writeModel(pdb.positions)
        writer.writeModel(pdb.positions)
    assert dcd_header_interval_ps(path) == pytest.approx(0.1)


def test_not_a_dcd_is_refused(md_dir):
    with pytest.raises(ValueError, match="not a DCD"):
        dcd_header_interval_ps(md_dir / "chignolin_amber14.pdb")


def test_pdb_trajectory_needs_an_explicit_interval(tmp_path, md_dir, topology):
    path = tmp_path / "frames.pdb"
    md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=topology)[:3].save_pdb(str(path))
    with pytest.raises(ValueError, match="--generated-frame-ps"):
        load_ensemble([path], path, topology)
    assert load_ensemble([path], path, topology, frame_ps=100.0).frame_ps == 100.0


def test_xtc_interval_from_its_time_column(tmp_path, md_dir, topology):
    trajectory = md.load(str(md_dir / "chignolin_obc2_350K_seed1.dcd"), top=topology)[::10]
    trajectory.time = np.arange(trajectory.n_frames) * 100.0
    trajectory.save_xtc(str(tmp_path / "g.xtc"))
    ensemble = load_ensemble([tmp_path / "g.xtc"], md_dir / "chignolin_amber14.pdb", topology)
    assert ensemble.frame_ps == pytest.approx(100.0)
    assert ensemble.lengths == [60]


def test_different_intervals_in_one_ensemble_are_refused(tmp_path, md_dir, topology):
    trajectory = md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=topology)
    trajectory.time = np.arange(trajectory.n_frames) * 20.0
    trajectory.save_xtc(str(tmp_path / "g.xtc"))
    with pytest.raises(ValueError, match="different frame intervals"):
        load_ensemble([md_dir / "chignolin_obc2_350K_seed2.dcd", tmp_path / "g.xtc"],
                      md_dir / "chignolin_amber14.pdb", topology)


def _dialect_copy(trajectory: md.Trajectory) -> md.Trajectory:
    """Heavy atoms only, atoms of each residue in reverse order, CHARMM terminal names, GLU as GLH."""
    top = md.Topology()
    chain = top.add_chain()
    order = []
    for residue in trajectory.topology.residues:
        new = top.add_residue("GLH" if residue.name == "GLU" else residue.name, chain, residue.resSeq)
        for atom in reversed(list(residue.atoms)):
            if atom.element.symbol != "H":
                top.add_atom({"O": "OT1", "OXT": "OT2"}.get(atom.name, atom.name) if residue.index == 9
                             else atom.name, atom.element, new)
                order.append(atom.index)
    return md.Trajectory(trajectory.xyz[:, order], top)


def test_heavy_atoms_in_another_dialect_map_onto_the_reference(md_dir, topology):
    trajectory = md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=topology)[:5]
    generated = _dialect_copy(trajectory)
    indices = match_heavy_atoms(topology, generated.topology, "generated")
    heavy = topology.select("not element H")
    assert len(indices) == len(heavy) == 93
    np.testing.assert_array_equal(generated.xyz[:, indices], trajectory.xyz[:, heavy])
    ensemble = ensemble_from_trajectories([generated], topology, 100.0)
    np.testing.assert_array_equal(ensemble.trajectories[0].xyz, trajectory.xyz[:, heavy])
    assert [a.name for a in ensemble.trajectories[0].topology.atoms] == [topology.atom(i).name for i in heavy]


def test_missing_heavy_atom_is_named(topology):
    asp_cb = topology.select("resid 2 and name CB")[0]
    generated = topology.subset([a.index for a in topology.atoms if a.index != asp_cb])
    with pytest.raises(AtomMatchError, match="residue 2 ASP atom CB"):
        match_heavy_atoms(topology, generated, "generated")


def test_native_crystal_structure_with_waters_gives_calphas(topology):
    native = md.load(str(structure_file("CLN025.pdb")))
    indices = match_calpha(topology, native.topology)
    assert [native.topology.atom(i).name for i in indices] == ["CA"] * 10
    wrong = md.load(str(structure_file("2JOF.pdb")))
    with pytest.raises(AtomMatchError, match="C-alpha"):
        match_calpha(topology, wrong.topology)


def test_placeholder_dcd_header_is_not_taken_for_a_time(tmp_path, md_dir, topology):
    """mdtraj writes 1 AKMA x 1 step into every DCD header: that is not 0.049 ps per frame."""
    md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=topology)[:4].save_dcd(str(tmp_path / "g.dcd"))
    assert dcd_header_interval_ps(tmp_path / "g.dcd") is None
    with pytest.raises(ValueError, match="--generated-frame-ps"):
        load_ensemble([tmp_path / "g.dcd"], md_dir / "chignolin_amber14.pdb", topology)


def test_amber_protonation_names_match_the_parent_residue():
    """A copy of a3d_amber14.pdb with its histidines named HIE, as an Amber prmtop names them (mdtraj
    does not count HIE as protein), matches the HIS of the PDB."""
    pdb = md.load(str(structure_file("a3d_amber14.pdb")))
    renamed = pdb.topology.copy()
    histidines = [residue for residue in renamed.residues if residue.name == "HIS"]
    assert histidines
    for residue in histidines:
        residue.name = "HIE"
    indices = match_heavy_atoms(pdb.topology, renamed, "generated")
    heavy = pdb.topology.select("not element H")
    np.testing.assert_array_equal(indices, heavy)


def test_trajectory_that_does_not_fit_its_topology_is_refused(tmp_path, md_dir, topology):
    full = md.load(str(md_dir / "chignolin_amber14.pdb"))
    full.atom_slice(topology.select("not element H")).save_pdb(str(tmp_path / "heavy.pdb"))
    with pytest.raises(AtomMatchError, match="seed2.dcd does not fit its topology"):
        load_ensemble([md_dir / "chignolin_obc2_350K_seed2.dcd"], tmp_path / "heavy.pdb", topology)


@pytest.mark.parametrize("order", ["<", ">"])
def test_xplor_header_with_a_double_time_step(tmp_path, order):
    """X-PLOR DCDs (CHARMM version 0) store the step as a float64; either byte order."""
    step_akma = 0.002 / 0.04888821  # 2 fs
    control = struct.pack(order + "9i", 10, 0, 500, 0, 0, 0, 0, 0, 0) + struct.pack(order + "d", step_akma)
    control += struct.pack(order + "9i", *[0] * 9)
    path = tmp_path / "xplor.dcd"
    path.write_bytes(struct.pack(order + "i", 84) + b"CORD" + control + struct.pack(order + "i", 84))
    assert dcd_header_interval_ps(path) == pytest.approx(1.0)
