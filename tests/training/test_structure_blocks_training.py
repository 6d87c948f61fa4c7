"""``python -m openmm_equijump.train --method structure`` then ``--method blocks --pretrained``: tiny real runs on
the shipped chignolin MD; the blocks run keeps the pretrained network frozen, resumes exactly and samples
windows."""
from pathlib import Path

import pytest
import torch
import yaml
from openmm.app import PDBFile

from openmm_equijump.cli.train import main
from openmm_equijump.config import config_to_dict
from openmm_equijump.model.blocks import WindowModel
from openmm_equijump.model.checkpoint import load_checkpoint
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.structure import StructureModel
from openmm_equijump.errors import ConfigError
from openmm_equijump.runtime.load import load_model
from openmm_equijump.training.loop import load_trained_model

from helpers import SHIPPED, bad_input, read_losses

TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


@pytest.fixture(scope="module")
def data_flags() -> list:
    reference = SHIPPED / "reference"
    return ["--dataset", str(reference / "heavy_atoms.pdb"), str(reference / "md_seed1.xtc"),
            str(reference / "md_seed2.xtc"), "--no-progress", "--batch-size", "2"]


@pytest.fixture(scope="module")
def structure_run(data_flags, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("structure_run")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "validation_pairs": 4, "validate_every": 3,
                                      "checkpoint_every": 3, "temperature_K": 350.0}))
    out = folder / "run"
    assert main(data_flags + ["--method", "structure", "--config", str(config), "--steps", "3",
                              "--out", str(out)]) == 0
    return out


def test_a_structure_run_measures_its_scale_and_samples_structures(structure_run, capsys):
    stored = load_checkpoint(structure_run)["config"]
    assert stored["method"] == "structure"
    assert 20.0 < stored["structure"]["mean_sq_distance_A2"] < 80.0
    losses = read_losses(structure_run)
    assert {"loss", "mse_A2", "scaled_rmsd"} <= set(losses[0])
    model, config = load_trained_model(structure_run)
    assert isinstance(model, StructureModel) and config.lag_ps == 100.0
    with pytest.raises(ConfigError, match=r"\(structure\) does not simulate forward in time"):
        load_model(str(structure_run), PDBFile(str(SHIPPED / "structure.pdb")).topology)
    S = torch.zeros(1, 10, dtype=torch.int64)
    mask = torch.zeros(1, 10, 13, dtype=torch.bool)
    mask[..., :3] = True
    x = model.sample(S, mask, torch.ones(1, 10, dtype=torch.bool), steps=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (1, 10, 14, 3) and torch.isfinite(x).all()


def test_a_blocks_run_trains_temporal_layers_around_the_frozen_structure_network_and_resumes_exactly(structure_run, data_flags,
                                                                                 tmp_path, capsys):
    config = tmp_path / "blocks.yaml"  # a decay the lengths of both runs share, for the exact resume below
    config.write_text(yaml.safe_dump({"validation_pairs": 4, "validate_every": 2, "checkpoint_every": 2,
                                      "lr_decay_steps": 10}))
    flags = data_flags + ["--method", "blocks", "--pretrained", str(structure_run), "--task", "forward", "--frames",
                          "4", "--lag-ps", "10", "--config", str(config)]
    out, part = tmp_path / "blocks", tmp_path / "part"
    assert main(flags + ["--steps", "4", "--out", str(out)]) == 0
    assert "training windows" in capsys.readouterr().out
    stored = load_checkpoint(out)["config"]
    pretrained = load_checkpoint(structure_run)
    assert stored["blocks"]["task"] == "forward" and stored["blocks"]["frames"] == 4
    assert stored["model"] == pretrained["config"]["model"]
    assert stored["structure"] == pretrained["config"]["structure"]
    weights = load_checkpoint(out)["model"]
    for name, value in pretrained["model"].items():  # frozen: the structure network is the pretrained one
        assert torch.equal(weights[f"structure.{name}"], value)
    assert any(not torch.equal(weights[name], torch.zeros_like(weights[name]))
               for name in weights if name.endswith("mix_logit"))  # alphas left 0.5: the temporal layers trained
    assert main(flags + ["--steps", "2", "--out", str(part)]) == 0  # a resumed blocks run continues exactly
    assert main(["--out", str(part), "--resume", "--steps", "4", "--no-progress"]) == 0
    assert read_losses(part) == read_losses(out)
    model, _ = load_trained_model(out)
    assert isinstance(model, WindowModel)
    start = torch.randn(1, 4, 10, 14, 3)
    S = torch.zeros(1, 10, dtype=torch.int64)
    mask = torch.ones(1, 10, 13, dtype=torch.bool)
    window = model.sample(start, S, mask, torch.ones(1, 10, dtype=torch.bool), steps=3)
    centred = start[:, 0] - start[:, 0].mean(dim=(1, 2), keepdim=True)  # given frames are centred, as in training
    assert torch.allclose(window[:, 0], centred, atol=1e-5) and torch.isfinite(window).all()


def test_blocks_need_a_structure_run(data_flags, tmp_path, capsys):
    assert "needs blocks.pretrained" in bad_input(
        main, data_flags + ["--method", "blocks", "--out", str(tmp_path / "a")], capsys)
    assert "frames=2: the interpolation task needs at least 3" in bad_input(
        main, data_flags + ["--method", "blocks", "--pretrained", str(tmp_path), "--task", "interpolation",
                            "--frames", "2", "--out", str(tmp_path / "b")], capsys)


def test_a_blocks_run_from_scratch_trains_the_spatial_network_too(data_flags, tmp_path, capsys):
    """The ablation without pretraining: the same window model, its spatial network random and trained."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "validation_pairs": 4, "validate_every": 2,
                                      "checkpoint_every": 2}))
    out = tmp_path / "scratch"
    assert main(data_flags + ["--method", "blocks", "--from-scratch", "--task", "forward", "--frames", "3",
                              "--lag-ps", "10", "--config", str(config), "--steps", "2", "--out", str(out)]) == 0
    assert "spatial network trained from scratch (data scale C = " in capsys.readouterr().out
    stored = load_checkpoint(out)["config"]
    assert stored["blocks"]["from_scratch"] and stored["blocks"]["pretrained"] is None
    assert 20.0 < stored["structure"]["mean_sq_distance_A2"] < 80.0
    before = load_checkpoint(out)["model"]
    assert main(["--out", str(out), "--resume", "--steps", "3", "--no-progress"]) == 0
    after = load_checkpoint(out)["model"]
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert any(name.startswith("structure.") for name in changed)  # one more step moved the spatial network
    assert any(name.startswith("temporal.") for name in changed)
    assert "choose one" in bad_input(main, data_flags + ["--method", "blocks", "--from-scratch", "--pretrained",
                                                         str(out), "--out", str(tmp_path / "b")], capsys)
