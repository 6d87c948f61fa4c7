"""From a short real training run to jumps in an OpenMM Simulation (issue 3's end-to-end check).

A few hundred steps of a small model on the shared chignolin MD must lower the validation loss and give a
jump module that moves chignolin inside ``openmm.app.Simulation`` with finite positions and chemically sound
consecutive C-alpha distances (3.8 +/- 0.6 A, every pair), in both sampler modes.
"""
import numpy as np
import pytest
from openmm import unit
from openmm.app import PDBFile, Simulation

from openmm_equijump.integrator import EquiJumpIntegrator
from openmm_equijump.md import native_obc2_system
from openmm_equijump.model import ModelConfig
from openmm_equijump.models import load_model
from openmm_equijump.sampler import SamplerConfig
from openmm_equijump.train import DatasetConfig, TrainConfig, train

from test_train import read_losses

STEPS = 300


@pytest.fixture(scope="module")
def short_run(md_dir, tmp_path_factory):
    """300 steps, H = 16, two blocks per network, the default ("endpoint") parameterization: about a minute."""
    config = TrainConfig(
        datasets=[DatasetConfig(str(md_dir / "chignolin_amber14.pdb"),
                                [str(md_dir / f"chignolin_obc2_350K_seed{s}.dcd") for s in (1, 2, 101)])],
        steps=STEPS, batch_size=8, validation_pairs=64, validate_every=100, checkpoint_every=STEPS,
        temperature_K=350.0, model=ModelConfig(H=16, conditioner_layers=2, header_layers=2))
    run = tmp_path_factory.mktemp("short_run")
    train(config, run, progress=False)
    return run


def test_short_training_lowers_the_validation_loss(short_run):
    validation = [float(r["loss"]) for r in read_losses(short_run) if r["split"] == "val"]
    assert len(validation) == STEPS // 100 + 1
    assert validation[-1] < validation[0] - 0.5, validation


@pytest.mark.parametrize("sampler", [SamplerConfig(latent_steps=50), SamplerConfig(latent_steps=20, mode="ode")],
                         ids=["sde-50", "ode-20"])
def test_short_training_jumps_chignolin_with_sound_geometry(short_run, md_dir, sampler):
    pdb = PDBFile(str(md_dir / "chignolin_amber14.pdb"))
    ca = [atom.index for atom in pdb.topology.atoms() if atom.name == "CA"]
    module = load_model(short_run, pdb.topology, sampler=sampler)
    system = native_obc2_system(pdb.topology)
    start = pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    for seed in (3, 4):
        simulation = Simulation(pdb.topology, system, EquiJumpIntegrator(module, seed=seed))
        simulation.context.setPositions(pdb.positions)
        for jump in range(2):
            simulation.step(1)
            x = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
            assert np.isfinite(x).all()
            ca_ca = np.linalg.norm(np.diff(x[ca], axis=0), axis=1)
            assert np.all(np.abs(ca_ca - 3.8) <= 0.6), f"seed {seed}, jump {jump + 1}: C-alpha distances {ca_ca}"
        assert np.abs(x - start).max() > 0.3, "the jumps did not move the protein"
