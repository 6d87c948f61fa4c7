"""Replicas in one call of the jump module (Python route) against the C++ integrator inside OpenMM."""
import numpy as np
import pytest
from openmm import Platform, System, unit
from openmm.app import PDBFile, Simulation

from openmm_equijump.export import export_jump_module
from openmm_equijump.integrator import EquiJumpIntegrator
from openmm_equijump.replicas import jump_seed, run_replicas
from openmm_equijump.testing import RigidRotation


@pytest.fixture(scope="module")
def chignolin(shared_data):
    pdb = PDBFile(str(shared_data / "md" / "chignolin_amber14.pdb"))
    module = export_jump_module(RigidRotation(), pdb.topology, jump_ps=100.0, temperature_K=350.0)
    return pdb, module


def _bare_system(topology) -> System:
    system = System()
    for atom in topology.atoms():
        system.addParticle(atom.element.mass)
    return system


def test_jump_seed_is_a_non_negative_int64_that_depends_on_seed_and_step():
    seeds = {jump_seed(seed, step) for seed in (1, 2, 2**31 - 1) for step in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)


def test_one_replica_reproduces_the_cpp_integrator(chignolin):
    """The Python route derives each jump's seed as the C++ kernel does: the same trajectory."""
    pdb, module = chignolin
    simulation = Simulation(pdb.topology, _bare_system(pdb.topology), EquiJumpIntegrator(module, seed=11),
                            Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(pdb.positions)
    simulation.step(3)
    via_openmm = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    start = np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    via_python = run_replicas(module, start, 3, seed=11, progress=False)
    assert via_python.shape == (1, 3, pdb.topology.getNumAtoms(), 3)
    np.testing.assert_allclose(via_python[0, -1], via_openmm, atol=1e-6)


def test_a_batch_of_replicas_matches_single_runs(chignolin):
    """RigidRotation draws its rotation from the seed alone, so every replica of a batch equals a single run."""
    pdb, module = chignolin
    start = np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    batch = run_replicas(module, np.stack([start] * 4), 2, seed=3, progress=False)
    single = run_replicas(module, start, 2, seed=3, progress=False)
    assert batch.shape == (4, 2, len(start), 3) and np.isfinite(batch).all()
    for replica in batch:
        np.testing.assert_allclose(replica, single[0], atol=1e-6)
    assert not np.allclose(single[0, 0], start, atol=1e-3)
