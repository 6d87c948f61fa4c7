"""Shared fixtures: the chignolin data the package ships, a tiny model trained on it, and where the optional
development data (``../shared/data`` beside the checkout: more structures, full-atom MD) lives."""
import shutil
from pathlib import Path

import mdtraj
import pytest

from openmm_equijump.model.network import ModelConfig
from openmm_equijump.runtime.load import PRETRAINED_DIR
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
#: The chignolin data that ships with the package: ``structure.pdb`` (all atoms, the MD's native start),
#: ``training_md/`` and ``reference/`` (heavy-atom XTCs of amber14/OBC2 MD at 350 K, 10 ps per frame).
SHIPPED = PRETRAINED_DIR / "chignolin"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (structures/ and md/)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def structure_file(name: str) -> Path:
    """A structure file by its name in ``../shared/data/structures``; chignolin_amber14.pdb is the shipped
    ``structure.pdb`` (the same atoms), so it needs no shared data. Skips the test when the file is absent."""
    if name == "chignolin_amber14.pdb":
        return SHIPPED / "structure.pdb"
    path = SHARED_DATA / "structures" / name
    if not path.is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return path


@pytest.fixture(scope="session")
def md_dir(shared_data) -> Path:
    """The shared chignolin reference MD (``chignolin_amber14.pdb`` and three DCDs, 10 ps per frame)."""
    return shared_data / "md"


@pytest.fixture(scope="session")
def topology(md_dir):
    """The mdtraj topology of the shared chignolin MD."""
    return mdtraj.load_topology(str(md_dir / "chignolin_amber14.pdb"))


TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


@pytest.fixture(scope="session")
def chignolin_pdb() -> Path:
    """The shipped all-atom chignolin structure (amber14 names, hydrogens; the atoms of the shared MD)."""
    return SHIPPED / "structure.pdb"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny model trained for a few steps on the shipped chignolin training MD, in a folder shaped like a
    shipped model (model.pt) with the shipped chignolin reference MD beside it."""
    md = SHIPPED / "training_md"
    config = TrainConfig(datasets=[DatasetConfig(str(md / "heavy_atoms.pdb"),
                                                 [str(md / f"md_seed{s}.xtc") for s in (1003, 1004)])],
                         steps=4, batch_size=2, validation_pairs=4, validate_every=4, checkpoint_every=4,
                         temperature_K=350.0, model=TINY)
    run = tmp_path_factory.mktemp("tiny_run")
    checkpoint = train(config, run, progress=False)
    folder = tmp_path_factory.mktemp("tiny_shipped")
    shutil.copy(checkpoint, folder / "model.pt")
    shutil.copytree(SHIPPED / "reference", folder / "reference")
    return folder
