"""Replicas in one call of the jump module (Python route) against the C++ integrator inside OpenMM."""
import numpy as np
import pytest
import torch
from openmm import Platform, System, unit
from openmm.app import PDBFile, Simulation

from openmm_equijump.runtime.export import export_jump_module
from openmm_equijump.runtime.integrator import EquiJumpIntegrator
from openmm_equijump.model.network import EquiJumpModel, ModelConfig
from openmm_equijump.runtime.replicas import jump_seed, replica_seeds, run_replicas
from openmm_equijump.model.sampler import JumpSampler, SamplerConfig
from openmm_equijump.testing import BlowsUpOnSeed, RigidRotation

from helpers import structure_file


@pytest.fixture(scope="module")
def pdb() -> PDBFile:
    return PDBFile(str(structure_file("chignolin_amber14.pdb")))


@pytest.fixture(scope="module")
def start(pdb) -> np.ndarray:
    return np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)


@pytest.fixture(scope="module")
def rotation_module(pdb):
    return export_jump_module(RigidRotation(), pdb.topology, jump_ps=100.0, temperature_K=350.0)


@pytest.fixture(scope="module")
def sampler_module(pdb):
    """An untrained tiny network with stochastic noise: every replica's jump depends on its seed."""
    torch.manual_seed(0)
    model = EquiJumpModel(ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4))
    with torch.no_grad():
        transition = JumpSampler(model.eval(), SamplerConfig(latent_steps=2))
        return export_jump_module(transition, pdb.topology, jump_ps=100.0, temperature_K=350.0,
                                  settings=transition.settings())


def _bare_system(topology) -> System:
    system = System()
    for atom in topology.atoms():
        system.addParticle(atom.element.mass)
    return system


def _via_openmm(pdb, module, seed: int, jumps: int) -> np.ndarray:
    simulation = Simulation(pdb.topology, _bare_system(pdb.topology), EquiJumpIntegrator(module, seed=seed),
                            Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(pdb.positions)
    simulation.step(jumps)
    state = simulation.context.getState(getPositions=True)
    return state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def test_jump_seed_is_a_non_negative_int64_that_depends_on_seed_and_step():
    seeds = {jump_seed(seed, step) for seed in (1, 2, 2**31 - 1) for step in range(50)}
    assert len(seeds) == 150 and all(0 <= s < 2**63 for s in seeds)


def test_replica_seeds_are_one_per_replica_and_positive():
    assert replica_seeds(5, 3) == [5, 6, 7]
    assert replica_seeds([9, 2], 2) == [9, 2]
    with pytest.raises(ValueError, match="got 1 seeds for 2 replicas"):
        replica_seeds([9], 2)
    with pytest.raises(ValueError, match="reads 0 as 'random'"):
        replica_seeds([0, 1], 2)


def test_one_replica_reproduces_the_cpp_integrator(pdb, start, rotation_module):
    """The Python route derives each jump's seed as the C++ kernel does: the same trajectory."""
    via_python = run_replicas(rotation_module, start, 3, seeds=[11], progress=False)
    assert via_python.shape == (1, 3, pdb.topology.getNumAtoms(), 3)
    np.testing.assert_allclose(via_python[0, -1], _via_openmm(pdb, rotation_module, 11, 3), atol=1e-6)


def test_each_replica_of_a_batch_is_the_integrator_run_with_its_seed(pdb, start, sampler_module):
    """Replica r of one batched call per jump = Simulation(..., EquiJumpIntegrator(module, seed=seeds[r]))."""
    seeds, jumps = [5, 6, 40], 2
    batch = run_replicas(sampler_module, np.stack([start] * len(seeds)), jumps, seeds, progress=False)
    assert batch.shape == (len(seeds), jumps, len(start), 3) and np.isfinite(batch).all()
    for replica, seed in zip(batch, seeds):
        np.testing.assert_allclose(replica[-1], _via_openmm(pdb, sampler_module, seed, jumps), atol=2e-5)
    assert np.abs(batch[0, -1] - batch[1, -1]).max() > 1e-3, "replicas with different seeds must differ"


def test_an_int_seed_gives_replica_r_the_seed_plus_r(start, rotation_module):
    batch = run_replicas(rotation_module, np.stack([start] * 2), 2, 3, progress=False)
    for r in range(2):
        np.testing.assert_allclose(batch[r], run_replicas(rotation_module, start, 2, 3 + r, progress=False)[0],
                                   atol=1e-6)
    assert not np.allclose(batch[0], batch[1], atol=1e-3)


def test_a_blown_up_replica_leaves_the_batch_and_the_others_go_on_unchanged(pdb, start):
    seeds = [3, 4, 5]
    module = export_jump_module(BlowsUpOnSeed(jump_seed(4, 1)), pdb.topology, jump_ps=100.0, temperature_K=350.0)
    with pytest.raises(FloatingPointError, match=r"jump at step 1: .*replica\(s\) \[1\]"):
        run_replicas(module, np.stack([start] * 3), 3, seeds, progress=False)
    batch = run_replicas(module, np.stack([start] * 3), 3, seeds, progress=False, keep_going=True)
    assert np.isfinite(batch[1, 0]).all() and np.isnan(batch[1, 1:]).all()
    for r in (0, 2):
        alone = run_replicas(module, start, 3, seeds[r], progress=False)[0]
        np.testing.assert_allclose(batch[r], alone, atol=1e-6)


def test_first_step_continues_a_run(start, rotation_module):
    whole = run_replicas(rotation_module, start, 4, 7, progress=False)
    continued = run_replicas(rotation_module, whole[:, 1], 2, 7, first_step=2, progress=False)
    np.testing.assert_allclose(continued[0], whole[0, 2:], atol=1e-6)


def test_unusable_start_positions_are_blamed_on_the_input(start, rotation_module):
    bad = np.repeat(np.asarray(start, dtype=np.float32)[None], 2, axis=0)
    bad[1, 5, 0] = np.inf
    with pytest.raises(ValueError, match=r"replica 1 .* atom 5 .* the input is at fault"):
        run_replicas(rotation_module, bad, 1, 1, progress=False)
