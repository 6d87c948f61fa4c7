"""Reference MD: structure preparation, the native OBC2 system, and resumable runs."""
import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import pytest

from openmm_equijump.md.reference import MDConfig, native_obc2_system, run_reference_md
from openmm_equijump.md.prepare import prepare_structure

from helpers import structure_file

RAW_STRUCTURES = ["CLN025.pdb", "2JOF.pdb", "1FME.pdb", "2F4K.pdb", "NuG2.pdb", "2A3D.pdb", "1LMB.pdb",
                  "1hvr.pdb", "4E43.pdb", "NTL9.pdb"]


def _energy(system, positions):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    return context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def test_native_obc2_matches_custom_gb():
    pdb = app.PDBFile(str(structure_file("chignolin_amber14.pdb")))
    custom = app.ForceField("amber14-all.xml", "implicit/obc2.xml").createSystem(
        pdb.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds, hydrogenMass=4 * unit.amu)
    native = native_obc2_system(pdb.topology)
    assert not any(isinstance(f, openmm.CustomGBForce) for f in native.getForces())
    assert _energy(native, pdb.positions) == pytest.approx(_energy(custom, pdb.positions), abs=1e-2)
    hydrogen_masses = [native.getParticleMass(a.index).value_in_unit(unit.amu)
                       for a in pdb.topology.atoms() if a.element.symbol == "H"]
    np.testing.assert_allclose(hydrogen_masses, 4.0)


@pytest.mark.parametrize("name", ["CLN025.pdb", "2F4K.pdb", "1LMB.pdb", "NTL9.pdb"])
def test_prepare_structure_gives_a_system(name):
    prepared = prepare_structure(structure_file(name))
    residues = {r.name for r in prepared.topology.residues()}
    assert "HOH" not in residues and "NLE" not in residues and "DA" not in residues
    assert any(a.element.symbol == "H" for a in prepared.topology.atoms())
    assert prepared.topology.getPeriodicBoxVectors() is None
    assert np.isfinite(_energy(native_obc2_system(prepared.topology), prepared.positions))
    if name == "2F4K.pdb":
        assert any("NLE" in change and "LEU" in change for change in prepared.changes)
    if name == "NTL9.pdb":  # CHARMM terminal amide NT inside ALA 39 becomes an amide cap residue
        assert [r.name for r in prepared.topology.residues()][-1] in ("NHE", "NH2")
    if name == "1LMB.pdb":
        assert any("nucleic acid" in change for change in prepared.changes)


@pytest.mark.slow
@pytest.mark.parametrize("name", RAW_STRUCTURES)
def test_prepare_every_shared_structure(name):
    prepared = prepare_structure(structure_file(name))
    assert np.isfinite(_energy(native_obc2_system(prepared.topology), prepared.positions))


def test_prepare_names_a_missing_chain():
    with pytest.raises(ValueError, match="chain.*Z.*not found"):
        prepare_structure(structure_file("CLN025.pdb"), chains=["Z"])


def test_interrupted_run_resumes_exactly(tmp_path):
    """A run cut between writing frames and checkpointing continues to the same trajectory."""
    native = structure_file("chignolin_amber14.pdb")
    config = MDConfig(pdb=str(native), ns=0.004, frame_ps=1.0, chunk_ns=0.002, threads=1, seed=7)
    summary = run_reference_md(config, tmp_path / "a")
    assert summary["frames_per_replica"] == [4]
    checkpoint = (tmp_path / "a" / "replica_0.chk").read_bytes()

    config.ns = 0.008
    run_reference_md(config, tmp_path / "a")
    uninterrupted = mdtraj.load(str(tmp_path / "a" / "replica_0.dcd"), top=str(tmp_path / "a" / "topology.pdb"))
    assert uninterrupted.n_frames == 8

    # Pretend the run died after frames 5-8 were written but before their checkpoint.
    (tmp_path / "a" / "replica_0.chk").write_bytes(checkpoint)
    run_reference_md(config, tmp_path / "a")
    resumed = mdtraj.load(str(tmp_path / "a" / "replica_0.dcd"), top=str(tmp_path / "a" / "topology.pdb"))
    assert resumed.n_frames == 8
    np.testing.assert_array_equal(resumed.xyz, uninterrupted.xyz)


def test_resume_refuses_other_settings(tmp_path):
    native = structure_file("chignolin_amber14.pdb")
    run_reference_md(MDConfig(pdb=str(native), ns=0.001, frame_ps=1.0, threads=1), tmp_path)
    with pytest.raises(ValueError, match="temperature"):
        run_reference_md(MDConfig(pdb=str(native), ns=0.001, frame_ps=1.0, threads=1, temperature_K=300.0), tmp_path)


def test_frames_every_20_fs_are_five_steps_of_the_4_fs_protocol():
    """DiffMD's regime: a short run saved every 20 fs."""
    config = MDConfig(pdb="protein.pdb", ns=0.15, frame_ps=0.02)
    assert config.timestep_fs == 4.0 and config.steps_per_frame == 5 and config.frames(config.ns) == 7500
