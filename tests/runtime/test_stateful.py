"""Stateful jump modules (format_version 2) in real Simulations: the state is carried through checkpoints, States
and the integrator's XML, initialized again when the user sets positions, and carried by the batched runner.
Each check runs on a hand-written module (``testing.StatefulDrift``), on a walk-jump chain of a tiny trained
denoiser, on the jump of a tiny DiffMD model (whose state is its two previous frames) and on forward simulation by
blocks of a tiny Align Your Structures model (whose state is the block being handed out)."""
import numpy as np
import pytest
import torch
from openmm import Platform, XmlSerializer, unit
from openmm.app import PDBFile, Simulation

from openmm_equijump.md.reference import native_obc2_system
from openmm_equijump.runtime.export import export_jump_module, is_stateful, jump_module_bytes
from openmm_equijump.model.block_sampler import BlockSamplerConfig
from openmm_equijump.model.diffmd import DiffMDSamplerConfig
from openmm_equijump.model.walk import WalkConfig
from openmm_equijump.runtime.integrator import EquiJumpIntegrator
from openmm_equijump.runtime.load import load_model
from openmm_equijump.runtime.replicas import run_replicas
from openmm_equijump.testing import RigidRotation, StatefulDrift

from helpers import structure_file


@pytest.fixture(scope="module")
def chignolin():
    return PDBFile(str(structure_file("chignolin_amber14.pdb")))


@pytest.fixture(scope="module", params=["drift", "walk_jump", "diffmd", "blocks"])
def stateful(request, chignolin, tiny_walk_jump_model, tiny_diffmd_model, tiny_blocks_model):
    if request.param == "walk_jump":
        return load_model(tiny_walk_jump_model, chignolin.topology, walk=WalkConfig(walk_steps=2))
    if request.param == "diffmd":  # the history of two frames is the state; "pc" also draws noise
        with pytest.warns(UserWarning, match="zero velocity"):
            return load_model(tiny_diffmd_model, chignolin.topology,
                              diffmd=DiffMDSamplerConfig(steps=2, solver="pc"))
    if request.param == "blocks":  # blocks of 3 frames: the checks below restore runs in the middle of a block
        return load_model(tiny_blocks_model, chignolin.topology, blocks=BlockSamplerConfig(steps=3))
    reference = export_jump_module(RigidRotation(), chignolin.topology, jump_ps=100.0, temperature_K=350.0)
    return torch.jit.script(StatefulDrift(reference))


@pytest.fixture(scope="module")
def module_bytes(stateful):
    return jump_module_bytes(stateful)


def simulation(chignolin, module, seed=3):
    from openmm import System
    system = System()
    for atom in chignolin.topology.atoms():
        system.addParticle(atom.element.mass)
    sim = Simulation(chignolin.topology, system, EquiJumpIntegrator(module, seed=seed),
                     Platform.getPlatformByName("Reference"))
    sim.context.setPositions(chignolin.positions)
    return sim


def positions(sim) -> np.ndarray:
    return sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def test_a_stateful_module_is_recognized_and_jumps(chignolin, stateful):
    assert is_stateful(stateful)
    sim = simulation(chignolin, stateful)
    sim.step(2)
    assert np.abs(positions(sim) - np.asarray(chignolin.positions.value_in_unit(unit.nanometer))).max() > 0.01


def test_checkpoint_state_and_xml_carry_the_module_state(tmp_path, chignolin, module_bytes):
    sim = simulation(chignolin, module_bytes)
    sim.step(2)
    sim.saveCheckpoint(str(tmp_path / "run.chk"))
    sim.saveState(str(tmp_path / "run.xml"))
    integrator_xml = XmlSerializer.serialize(sim.integrator)
    at_two = positions(sim)
    sim.step(2)
    expected = positions(sim)

    restored = simulation(chignolin, module_bytes)
    restored.loadCheckpoint(str(tmp_path / "run.chk"))
    restored.step(2)
    np.testing.assert_array_equal(positions(restored), expected)

    from_state = simulation(chignolin, module_bytes)
    from_state.loadState(str(tmp_path / "run.xml"))
    from_state.step(2)
    np.testing.assert_array_equal(positions(from_state), expected)

    from_xml = Simulation(chignolin.topology, sim.system, XmlSerializer.deserialize(integrator_xml),
                          Platform.getPlatformByName("Reference"))
    from_xml.context.setPositions(at_two)
    from_xml.context.setStepCount(2)
    from_xml.step(2)
    np.testing.assert_allclose(positions(from_xml), expected, atol=1e-12)

    # Without the state (same positions, step count and seed, state initialized afresh) the run differs.
    fresh = simulation(chignolin, module_bytes)
    fresh.context.setPositions(at_two * 1.0000001)  # not the positions the integrator wrote
    fresh.context.setStepCount(2)
    fresh.step(2)
    assert np.abs(positions(fresh) - expected).max() > 1e-3


def test_positions_set_by_the_user_start_a_new_state(chignolin, module_bytes):
    start = np.asarray(chignolin.positions.value_in_unit(unit.nanometer))
    walked = simulation(chignolin, module_bytes)
    walked.step(2)
    walked.context.setPositions(start)
    walked.step(1)
    new = simulation(chignolin, module_bytes)
    new.context.setStepCount(2)
    new.step(1)
    np.testing.assert_array_equal(positions(walked), positions(new))


def test_the_batched_runner_carries_the_state_as_the_plugin_does(chignolin, stateful, module_bytes):
    start = np.asarray(chignolin.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    batch = run_replicas(stateful, np.stack([start, start]), 3, [5, 6], progress=False)
    for r, seed in enumerate((5, 6)):
        sim = simulation(chignolin, module_bytes, seed=seed)
        sim.step(3)
        np.testing.assert_allclose(batch[r, -1], positions(sim), atol=1e-5)


def test_a_walk_jump_chain_samples_an_ensemble_not_time(chignolin, tiny_walk_jump_model):
    module = load_model(tiny_walk_jump_model, chignolin.topology)
    integrator = EquiJumpIntegrator(module, seed=2)
    assert is_stateful(module) and not module.kinetic and not integrator.kinetic
    assert integrator.getStepSize() == 1.0 * unit.picosecond  # nominal: one sample per step
    assert module.settings["walk_steps"] == 1.0 and module.settings["delta"] == pytest.approx(0.4)


def test_a_walk_jump_sample_depends_on_the_chain_not_on_the_last_reported_sample(chignolin, tiny_walk_jump_model):
    """The sample's heavy atoms come from the chain's state alone; in particular the projection judges peptide
    isomers at the chain's start, not at the positions it is handed (the last sample), even when they hold a
    short, cis-like peptide."""
    module = load_model(tiny_walk_jump_model, chignolin.topology)
    native = torch.as_tensor(np.array(chignolin.positions.value_in_unit(unit.nanometer), dtype=np.float32))[None]
    state = module.init_replicas(native, [3])
    calphas = [a.index for a in chignolin.topology.atoms() if a.name == "CA"]
    squeezed = native.clone()  # the C-alpha of residue 7 moved 0.09 nm towards residue 8's: 2.9 A apart
    step = native[0, calphas[7]] - native[0, calphas[6]]
    squeezed[0, calphas[6]] += step * (0.09 / float(step.norm()))
    assert float((squeezed[0, calphas[7]] - squeezed[0, calphas[6]]).norm()) < 0.3
    with torch.no_grad():
        from_native, state_a = module.jump_replicas(native, state, [4])
        from_squeezed, state_b = module.jump_replicas(squeezed, state, [4])
    heavy = [a.index for a in chignolin.topology.atoms() if a.element.symbol != "H"]
    # hydrogens are rebuilt in their local frames of the positions handed in; the heavy atoms are the sample
    torch.testing.assert_close(from_squeezed[:, heavy], from_native[:, heavy], atol=0, rtol=0)
    torch.testing.assert_close(state_b, state_a, atol=0, rtol=0)


def test_the_shipped_walk_jump_model_samples_sound_chignolin(chignolin):
    """The shipped model in OpenMM: 5 samples of 10 walk steps, each with a C-alpha chain in band."""
    module = load_model("chignolin-walkjump", chignolin.topology, walk=WalkConfig(walk_steps=10))
    assert is_stateful(module) and not module.kinetic and module.settings["sigma_A"] == pytest.approx(0.4)
    simulation = Simulation(chignolin.topology, native_obc2_system(chignolin.topology),
                            EquiJumpIntegrator(module, seed=1), Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(chignolin.positions)
    calphas = [a.index for a in chignolin.topology.atoms() if a.name == "CA"]
    for _ in range(5):
        simulation.step(1)
        x = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        bonds = np.linalg.norm(np.diff(x[calphas], axis=0), axis=1)
        assert np.isfinite(x).all() and np.all(np.abs(bonds - 3.8) < 0.5)


def test_forward_blocks_hand_out_one_frame_per_step_and_sample_the_next_block_from_the_last_frame(
        chignolin, tiny_blocks_model, tmp_path):
    """A model of windows of 4 frames 10 ps apart: each step is 10 ps and one frame of the block in the state; the
    block is kept for 3 steps, then the next one is sampled from the positions of the last frame handed out; a
    DCDReporter at every step records every frame."""
    from openmm.app import DCDReporter
    module = load_model(tiny_blocks_model, chignolin.topology, blocks=BlockSamplerConfig(steps=3))
    assert module.kinetic and module.settings["window_frames"] == 4.0 and module.settings["frames_per_block"] == 3.0 \
        and module.settings["latent_steps"] == 3.0
    sim = simulation(chignolin, module)
    assert sim.integrator.getStepSize() == 10.0 * unit.picosecond
    sim.reporters.append(DCDReporter(str(tmp_path / "blocks.dcd"), 1))
    sim.step(7)
    assert sim.context.getState().getTime() == 70.0 * unit.picosecond
    import mdtraj
    frames = mdtraj.load(str(tmp_path / "blocks.dcd"), top=str(structure_file("chignolin_amber14.pdb")))
    assert frames.n_frames == 7 and np.isfinite(frames.xyz).all()

    x = torch.as_tensor(np.array(chignolin.positions.value_in_unit(unit.nanometer), dtype=np.float32))[None]
    state = module.init_replicas(x, [1])
    handed, buffers, starts = [], [], []
    with torch.no_grad():
        for step in range(7):
            starts.append(x)
            x, state = module.jump_replicas(x, state, [1 + step])
            handed.append(int(state[0, 0]))
            buffers.append(state[0, 1:].clone())
        # the second block is the one sampled from the third frame, with the seed of the step that needed it
        again, _ = module.jump_replicas(starts[3], module.init_replicas(starts[3], [0]), [4])
    assert handed == [1, 2, 3, 1, 2, 3, 1]
    assert torch.equal(buffers[0], buffers[2]) and torch.equal(buffers[3], buffers[5])
    assert not torch.equal(buffers[2], buffers[3])
    np.testing.assert_allclose(again.numpy(), starts[4].numpy(), atol=1e-6)
