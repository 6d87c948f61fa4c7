"""Fixtures: the development data (skipped without it) and a tiny model trained on the shipped chignolin MD."""
import shutil
from pathlib import Path

import mdtraj
import pytest

from openmm_equijump.model.blocks import BlocksConfig
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train

from helpers import SHARED_DATA, SHIPPED


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The development data beside the checkout (structures/ and md/: README, "Tests")."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def md_dir(shared_data) -> Path:
    """The shared chignolin reference MD (``chignolin_amber14.pdb`` and three DCDs, 10 ps per frame)."""
    return shared_data / "md"


@pytest.fixture(scope="session")
def topology(md_dir):
    """The mdtraj topology of the shared chignolin MD."""
    return mdtraj.load_topology(str(md_dir / "chignolin_amber14.pdb"))


TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


def train_tiny(folder: Path, method: str = "equijump", **settings) -> Path:
    """A tiny model of ``method`` trained for 4 steps into ``folder`` on two shipped chignolin training
    trajectories; returns its checkpoint. ``settings``: other ``TrainConfig`` fields."""
    md = SHIPPED / "training_md"
    config = TrainConfig(method=method,
                         datasets=[DatasetConfig(str(md / "heavy_atoms.pdb"),
                                                 [str(md / f"md_seed{s}.xtc") for s in (1003, 1004)])],
                         steps=4, batch_size=2, validation_pairs=4, validate_every=4, checkpoint_every=4,
                         temperature_K=350.0, model=TINY, **settings)
    return train(config, folder, progress=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny EquiJump model, in a folder shaped like a shipped model (model.pt) with the shipped chignolin
    reference MD beside it."""
    checkpoint = train_tiny(tmp_path_factory.mktemp("tiny_run"))
    folder = tmp_path_factory.mktemp("tiny_shipped")
    shutil.copy(checkpoint, folder / "model.pt")
    shutil.copytree(SHIPPED / "reference", folder / "reference")
    return folder


@pytest.fixture(scope="session")
def tiny_walk_jump_model(tmp_path_factory) -> Path:
    """A tiny walk-jump denoiser (sigma 0.4 A), its training run folder."""
    run = tmp_path_factory.mktemp("tiny_walk_jump")
    train_tiny(run, "walk-jump")
    return run


@pytest.fixture(scope="session")
def tiny_blocks_model(tmp_path_factory) -> Path:
    """A tiny forward-task blocks model (windows of 4 frames 10 ps apart) around a tiny structure model, its
    training run folder."""
    structure = tmp_path_factory.mktemp("tiny_structure")
    train_tiny(structure, "structure")
    run = tmp_path_factory.mktemp("tiny_blocks")
    train_tiny(run, "blocks", lag_ps=10.0, blocks=BlocksConfig(task="forward", frames=4, pretrained=str(structure)))
    return run


@pytest.fixture(scope="session")
def tiny_diffmd_model(tmp_path_factory) -> Path:
    """A tiny DiffMD model (history 2), its training run folder."""
    run = tmp_path_factory.mktemp("tiny_diffmd")
    train_tiny(run, "diffmd")
    return run
