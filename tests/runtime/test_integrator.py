"""EquiJumpIntegrator in real OpenMM Simulations (Reference and CPU platforms), with checkable jump modules.

The jumps come from ``openmm_equijump.testing`` transitions exported with ``export_jump_module`` for the
chignolin topology: a rigid rotation of the heavy atoms about the C-alpha centroid (angle and axis from the
seed), so a jump is checkable (heavy-atom distances kept, positions moved) without a trained model.
"""
import io
import math
import struct
import warnings

import mdtraj
import numpy as np
import pytest
import torch
from openmm import Context, OpenMMException, Platform, System, XmlSerializer, unit
from openmm.app import DCDReporter, ForceField, HBonds, Modeller, PDBFile, Simulation, StateDataReporter
from torch import nn

from openmm_equijump.runtime.export import export_jump_module, jump_module_bytes, save_jump_module
from openmm_equijump.runtime.integrator import EquiJumpIntegrator, JumpModuleError
from openmm_equijump.testing import NonFinite, RigidRotation

from helpers import structure_file

JUMP_PS = 100.0
MODEL_K = 350.0
PLATFORMS = ["Reference", "CPU"]


class WrongSignature(nn.Module):
    """Carries the jump-module attributes but its forward takes no seed."""

    def __init__(self, reference: torch.jit.ScriptModule):
        super().__init__()
        self.jump_ps = float(reference.jump_ps)
        self.n_atoms = int(reference.n_atoms)
        self.temperature_K = float(reference.temperature_K)
        for name in ("atomic_numbers", "group_index", "expected_group_mass"):
            self.register_buffer(name, getattr(reference, name).clone())

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return positions


class NoAttributes(nn.Module):
    def forward(self, positions: torch.Tensor, seed: int) -> torch.Tensor:
        return positions


@pytest.fixture(scope="session")
def chignolin():
    return PDBFile(str(structure_file("chignolin_amber14.pdb")))


@pytest.fixture(scope="session")
def rotation_module(chignolin):
    return export_jump_module(RigidRotation(), chignolin.topology, jump_ps=JUMP_PS, temperature_K=MODEL_K)


@pytest.fixture(scope="session")
def rotation_bytes(rotation_module):
    return jump_module_bytes(rotation_module)


@pytest.fixture(scope="session")
def amber_system(chignolin):
    """amber14 + OBC2 implicit solvent, HBonds constraints, hydrogen mass repartitioned to 4 amu."""
    forcefield = ForceField("amber14-all.xml", "implicit/obc2.xml")
    return forcefield.createSystem(chignolin.topology, constraints=HBonds, hydrogenMass=4 * unit.amu)


def make_simulation(chignolin, system, integrator, platform):
    properties = {"Threads": "1"} if platform == "CPU" else {}
    simulation = Simulation(chignolin.topology, system, integrator, Platform.getPlatformByName(platform),
                            properties)
    simulation.context.setPositions(chignolin.positions)
    return simulation


def positions_nm(simulation) -> np.ndarray:
    return simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def heavy_indices(topology) -> np.ndarray:
    return np.array([atom.index for atom in topology.atoms() if atom.element.symbol != "H"])


def pairwise(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None] - x[None], axis=-1)


def read_dcd_header(path):
    """(frames, first step, steps between frames, time step in ps) from a DCD header (mdtraj ignores it)."""
    with open(path, "rb") as handle:
        fields = struct.unpack("<i4s9if", handle.read(48))
    assert fields[0] == 84 and fields[1] == b"CORD"
    akma_time_unit_ps = 0.04888821
    return fields[2], fields[3], fields[4], fields[11] * akma_time_unit_ps


@pytest.mark.parametrize("platform", PLATFORMS)
def test_simulation_with_reporters(tmp_path, chignolin, amber_system, rotation_module, platform):
    n = 5
    integrator = EquiJumpIntegrator(rotation_module, seed=3)
    assert integrator.getStepSize() == JUMP_PS * unit.picosecond
    assert integrator.getTemperature() == MODEL_K * unit.kelvin
    simulation = make_simulation(chignolin, amber_system, integrator, platform)
    start = positions_nm(simulation)
    dcd, log = tmp_path / "jumps.dcd", tmp_path / "log.csv"
    simulation.reporters.append(DCDReporter(str(dcd), 1))
    simulation.reporters.append(StateDataReporter(str(log), 1, step=True, time=True, potentialEnergy=True,
                                                  temperature=True, speed=True))
    simulation.step(n)

    state = simulation.context.getState(getPositions=True)
    assert state.getStepCount() == n
    assert math.isclose(state.getTime().value_in_unit(unit.picosecond), n * JUMP_PS)
    frames, first_step, interval, dt_ps = read_dcd_header(dcd)
    assert (frames, first_step, interval) == (n, 1, 1)
    assert math.isclose(dt_ps, JUMP_PS, rel_tol=1e-5)
    trajectory = mdtraj.load_dcd(str(dcd), top=mdtraj.Topology.from_openmm(chignolin.topology))
    assert trajectory.n_frames == n
    end = positions_nm(simulation)
    np.testing.assert_allclose(trajectory.xyz[-1], end, atol=1e-5)

    heavy = heavy_indices(chignolin.topology)
    assert np.abs(end[heavy] - start[heavy]).max() > 0.1  # the protein moved
    np.testing.assert_allclose(pairwise(end[heavy]), pairwise(start[heavy]), atol=2e-4)  # rigidly

    rows = [line.split(",") for line in log.read_text().splitlines()[1:]]
    assert [int(row[0]) for row in rows] == list(range(1, n + 1))
    assert [float(row[1]) for row in rows] == pytest.approx([JUMP_PS * k for k in range(1, n + 1)])
    potential = [float(row[2]) for row in rows]
    temperature = [float(row[3]) for row in rows]
    assert all(math.isfinite(value) for value in potential)
    # 166 atoms with 73 constraints: the drawn velocities give the set temperature within a few tens of K.
    assert all(250 < value < 450 for value in temperature)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_checkpoint_then_jumps_equal_jumps_without_detour(tmp_path, chignolin, amber_system, rotation_bytes,
                                                         platform):
    simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes), platform)
    simulation.step(2)
    simulation.saveCheckpoint(str(tmp_path / "jump.chk"))
    simulation.step(3)
    direct = simulation.context.getState(getPositions=True, getVelocities=True)
    simulation.loadCheckpoint(str(tmp_path / "jump.chk"))
    assert simulation.context.getState().getStepCount() == 2
    simulation.step(3)
    restored = simulation.context.getState(getPositions=True, getVelocities=True)
    assert restored.getStepCount() == direct.getStepCount() == 5
    assert restored.getTime() == direct.getTime()
    np.testing.assert_array_equal(restored.getPositions(asNumpy=True), direct.getPositions(asNumpy=True))
    np.testing.assert_array_equal(restored.getVelocities(asNumpy=True), direct.getVelocities(asNumpy=True))

    # seed=0 drew a random seed for the first Context; the checkpoint carries it to a new Simulation.
    other = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes), platform)
    other.loadCheckpoint(str(tmp_path / "jump.chk"))
    other.step(3)
    np.testing.assert_array_equal(positions_nm(other), direct.getPositions(asNumpy=True)._value)


def test_save_state_load_state(tmp_path, chignolin, amber_system, rotation_bytes):
    simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes), "Reference")
    simulation.step(1)
    simulation.saveState(str(tmp_path / "state.xml"))
    simulation.step(2)
    direct = positions_nm(simulation)
    other = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes), "Reference")
    other.loadState(str(tmp_path / "state.xml"))
    assert other.context.getState().getStepCount() == 1
    other.step(2)
    np.testing.assert_array_equal(positions_nm(other), direct)


def test_run_for_clock_time(chignolin, amber_system, rotation_bytes):
    simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes, seed=1), "Reference")
    simulation.runForClockTime(0.3 * unit.second)
    state = simulation.context.getState()
    assert state.getStepCount() >= 1
    assert math.isclose(state.getTime().value_in_unit(unit.picosecond), state.getStepCount() * JUMP_PS)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_xml_round_trip_still_jumps(tmp_path, chignolin, amber_system, rotation_bytes, platform):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 300 K differs from the module's 350 K on purpose
        integrator = EquiJumpIntegrator(rotation_bytes, temperature=300 * unit.kelvin, seed=17, device="cpu")
    xml = XmlSerializer.serialize(integrator)
    (tmp_path / "integ.xml").write_text(xml)
    copy = EquiJumpIntegrator.cast(XmlSerializer.deserialize(xml))
    assert copy.getSerializedModule() == rotation_bytes
    assert copy.getTemperature() == 300 * unit.kelvin
    assert copy.getRandomNumberSeed() == 17 and copy.getDevice() == "cpu"
    assert copy.getStepSize() == JUMP_PS * unit.picosecond

    original = make_simulation(chignolin, amber_system, integrator, platform)
    from_file = make_simulation(chignolin, amber_system, str(tmp_path / "integ.xml"), platform)
    assert EquiJumpIntegrator.isinstance(from_file.integrator)
    original.step(2)
    from_file.step(2)
    assert from_file.currentStep == 2
    np.testing.assert_array_equal(positions_nm(from_file), positions_nm(original))
    assert np.abs(positions_nm(from_file) - np.array(chignolin.positions.value_in_unit(unit.nanometer))).max() > 0.1


def test_same_seed_same_trajectory_different_seed_different(chignolin, amber_system, rotation_module):
    def run(seed):
        simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_module, seed=seed),
                                     "Reference")
        simulation.step(3)
        return positions_nm(simulation)

    np.testing.assert_array_equal(run(5), run(5))
    assert np.abs(run(5) - run(6)).max() > 0.05


def test_non_finite_jump_raises_and_leaves_context(chignolin, amber_system):
    module = export_jump_module(NonFinite(), chignolin.topology, jump_ps=JUMP_PS, temperature_K=MODEL_K)
    simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(module, seed=1), "Reference")
    simulation.context.setTime(7 * unit.picosecond)
    before = simulation.context.getState(getPositions=True, getVelocities=True)
    with pytest.raises(OpenMMException, match="non-finite position"):
        simulation.step(1)
    after = simulation.context.getState(getPositions=True, getVelocities=True)
    np.testing.assert_array_equal(after.getPositions(asNumpy=True), before.getPositions(asNumpy=True))
    np.testing.assert_array_equal(after.getVelocities(asNumpy=True), before.getVelocities(asNumpy=True))
    assert after.getTime() == 7 * unit.picosecond and after.getStepCount() == 0


@pytest.mark.parametrize("bad", [float("nan"), 1e30])
def test_unusable_positions_are_blamed_on_the_input_not_the_model(chignolin, amber_system, rotation_bytes, bad):
    simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes, seed=1), "Reference")
    positions = np.array(chignolin.positions.value_in_unit(unit.nanometer))
    positions[7, 1] = bad
    simulation.context.setPositions(positions)
    with pytest.raises(OpenMMException, match="particle 7 .* The input is at fault, not the model"):
        simulation.step(1)
    assert simulation.context.getState().getStepCount() == 0


def test_bare_system_of_masses(chignolin, rotation_module):
    system = System()
    for atom in chignolin.topology.atoms():
        system.addParticle(atom.element.mass)
    simulation = make_simulation(chignolin, system, EquiJumpIntegrator(rotation_module, seed=2), "CPU")
    simulation.step(2)
    state = simulation.context.getState(getEnergy=True)
    assert state.getStepCount() == 2 and state.getPotentialEnergy() == 0 * unit.kilojoule_per_mole
    assert state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole) > 0


def test_protease_dimer_in_a_bare_system():
    """1HVR: two chains of 99 residues with hydrogens and a modified cysteine (CSO), inhibitor removed."""
    pdb = PDBFile(str(structure_file("1hvr.pdb")))
    modeller = Modeller(pdb.topology, pdb.positions)
    modeller.delete([residue for residue in modeller.topology.residues() if residue.name in ("XK2", "HOH")])
    assert modeller.topology.getNumChains() == 2 and modeller.topology.getNumResidues() == 198
    module = export_jump_module(RigidRotation(), modeller.topology, jump_ps=JUMP_PS, temperature_K=MODEL_K)
    system = System()
    for atom in modeller.topology.atoms():
        system.addParticle(atom.element.mass)
    simulation = Simulation(modeller.topology, system, EquiJumpIntegrator(module, seed=4),
                            Platform.getPlatformByName("CPU"), {"Threads": "1"})
    simulation.context.setPositions(modeller.positions)
    start = positions_nm(simulation)
    simulation.step(2)
    end = positions_nm(simulation)
    heavy = heavy_indices(modeller.topology)
    assert np.abs(end[heavy] - start[heavy]).max() > 0.5
    np.testing.assert_allclose(pairwise(end[heavy]), pairwise(start[heavy]), atol=5e-4)


def test_system_with_wrong_atom_count_is_refused(rotation_bytes):
    trpcage = PDBFile(str(structure_file("trpcage_amber14.pdb")))
    system = ForceField("amber14-all.xml").createSystem(trpcage.topology)
    with pytest.raises(OpenMMException, match=r"System has \d+ particles.*166 atoms.*Rebind"):
        Context(system, EquiJumpIntegrator(rotation_bytes), Platform.getPlatformByName("Reference"))


def test_system_with_wrong_masses_is_refused(chignolin, rotation_bytes):
    system = System()
    for atom in chignolin.topology.atoms():
        system.addParticle(atom.element.mass)
    carbon = next(atom.index for atom in chignolin.topology.atoms() if atom.element.symbol == "C")
    system.setParticleMass(carbon, 2 * system.getParticleMass(carbon).value_in_unit(unit.amu))
    with pytest.raises(OpenMMException, match=rf"particle {carbon} \(atomic number 6"):
        Context(system, EquiJumpIntegrator(rotation_bytes), Platform.getPlatformByName("Reference"))


def test_module_from_file_and_temperature_handling(tmp_path, rotation_module):
    path = tmp_path / "jump.pt"
    save_jump_module(rotation_module, path)
    assert EquiJumpIntegrator(str(path)).getSerializedModule() == path.read_bytes()
    with pytest.warns(UserWarning, match="differs from the 350 K"):
        integrator = EquiJumpIntegrator(path, temperature=300.0)
    assert integrator.getTemperature() == 300 * unit.kelvin
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EquiJumpIntegrator(path, temperature=MODEL_K * unit.kelvin)
    with pytest.raises(ValueError, match="must be a temperature"):
        EquiJumpIntegrator(path, temperature=300 * unit.nanometer)


def test_unreadable_and_wrong_shaped_modules_are_explained(tmp_path, rotation_module):
    missing = tmp_path / "missing.pt"
    with pytest.raises(JumpModuleError, match="missing.pt.*no such file"):
        EquiJumpIntegrator(missing)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(JumpModuleError, match="junk.pt.*damaged or not written by torch"):
        EquiJumpIntegrator(junk)
    with pytest.raises(JumpModuleError, match="lacks the jump-module attribute.*jump_ps.*export_jump_module"):
        EquiJumpIntegrator(torch.jit.script(NoAttributes()))
    with pytest.raises(JumpModuleError, match=r"forward\(Tensor\).*seed: int"):
        EquiJumpIntegrator(torch.jit.script(WrongSignature(rotation_module)))
    with pytest.raises(JumpModuleError, match="plain torch.nn.Module"):
        EquiJumpIntegrator(NoAttributes())
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(NoAttributes()), buffer)
    with pytest.raises(JumpModuleError, match="jump module bytes"):
        EquiJumpIntegrator(buffer.getvalue())


def test_device_choice_is_checked(chignolin, amber_system, rotation_bytes):
    reference = Platform.getPlatformByName("Reference")
    Context(amber_system, EquiJumpIntegrator(rotation_bytes, device="cpu"), reference)
    with pytest.raises(OpenMMException, match="unknown device 'potato'"):
        Context(amber_system, EquiJumpIntegrator(rotation_bytes, device="potato"), reference)
    with pytest.raises(OpenMMException, match=r"'cuda:7' requested, but libtorch sees \d+ CUDA device"):
        Context(amber_system, EquiJumpIntegrator(rotation_bytes, device="cuda:7"), reference)


def test_an_explicit_seed_wins_over_a_loaded_states_seed(tmp_path, chignolin, amber_system, rotation_bytes):
    saved = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes, seed=7), "Reference")
    saved.step(1)
    saved.saveState(str(tmp_path / "state.xml"))

    def continued(seed):
        simulation = make_simulation(chignolin, amber_system, EquiJumpIntegrator(rotation_bytes, seed=seed),
                                     "Reference")
        simulation.loadState(str(tmp_path / "state.xml"))
        simulation.step(2)
        return positions_nm(simulation)

    saved.step(2)
    np.testing.assert_array_equal(continued(7), positions_nm(saved))
    assert np.abs(continued(8) - positions_nm(saved)).max() > 0.05  # "launch N seeds from one State" differ


def test_thread_count_is_a_setting_kept_in_xml_and_restored_after_each_jump(chignolin, amber_system, rotation_bytes):
    integrator = EquiJumpIntegrator(rotation_bytes, seed=3, threads=2)
    assert EquiJumpIntegrator(rotation_bytes).getNumThreads() == 1
    copy = EquiJumpIntegrator.cast(XmlSerializer.deserialize(XmlSerializer.serialize(integrator)))
    assert copy.getNumThreads() == 2
    with pytest.raises(ValueError, match="threads"):
        EquiJumpIntegrator(rotation_bytes, threads=-1)
    before = torch.get_num_threads()
    simulation = make_simulation(chignolin, amber_system, integrator, "Reference")
    simulation.step(1)
    assert torch.get_num_threads() == before  # libtorch's global setting is the user's again after the jump
