"""``python -m openmm_equijump.train``: real (tiny) training runs, checkpoints, exact resume, inputs, errors."""
import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import torch
import yaml

from openmm_equijump.cli.train import main
from openmm_equijump.config import config_from_dict, config_to_dict
from openmm_equijump.errors import ConfigError
from openmm_equijump.model.checkpoint import load_checkpoint, save_checkpoint
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.transports import TransportConfig
from openmm_equijump.protein.vocabulary import VOCABULARY
from openmm_equijump.training.config import DatasetConfig, TrainConfig, load_train_config
from openmm_equijump.training.loop import LOSSES_NAME, LossLog, learning_rate, load_trained_model, train

from helpers import FIXTURES, SHIPPED, bad_input, read_losses

TRAIN_FIXTURES = FIXTURES / "train"
TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


def tiny_config(datasets, **settings) -> TrainConfig:
    defaults = dict(steps=6, batch_size=2, validation_pairs=4, validate_every=3, checkpoint_every=3, model=TINY)
    return TrainConfig(datasets=datasets, **{**defaults, **settings})


@pytest.fixture(scope="module")
def chignolin() -> DatasetConfig:
    """The chignolin MD shipped as the model's reference (heavy atoms, 10 ps per frame)."""
    reference = SHIPPED / "reference"
    return DatasetConfig(str(reference / "heavy_atoms.pdb"), [str(reference / f"md_seed{s}.xtc") for s in (1, 2, 101)])


@pytest.fixture(scope="module")
def alpha3d(shared_data, tmp_path_factory) -> DatasetConfig:
    """Alpha3D (73 residues): a few frames wiggled around the structure (no reference MD of it here)."""
    pdb = shared_data / "structures" / "a3d_amber14.pdb"
    structure = mdtraj.load(str(pdb))
    rng = np.random.default_rng(1)
    frames = structure.xyz + rng.normal(scale=0.01, size=(14,) + structure.xyz.shape[1:]).astype(np.float32)
    path = tmp_path_factory.mktemp("alpha3d") / "a3d_wiggled.dcd"
    mdtraj.Trajectory(frames, structure.topology).save_dcd(str(path))
    return DatasetConfig(str(pdb), [str(path)], frame_ps=10.0)


def test_cli_trains_checkpoints_and_lowers_the_validation_loss(chignolin, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "batch_size": 4, "validate_every": 20,
                                      "validation_pairs": 16, "checkpoint_every": 20, "temperature_K": 350.0}))
    out = tmp_path / "run"
    assert main(["--topology", chignolin.topology, "--trajectories", *chignolin.trajectories, "--lag-ps", "100",
                 "--out", str(out), "--steps", "40", "--config", str(config), "--seed", "3", "--no-progress"]) == 0

    rows = read_losses(out)
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == list(range(1, 41))
    validation = {int(r["step"]): float(r["loss"]) for r in rows if r["split"] == "val"}
    assert sorted(validation) == [0, 20, 40]
    # the default (preconditioned) loss regresses unit-scale targets: its floor is about -1.1, an untrained
    # model sits near 0, and 40 steps at batch 4 take it about 5 % of the way
    assert validation[40] < validation[0] - 0.04, validation
    assert {"x1_P", "x1_V", "floor"} <= set(rows[0])

    checkpoint = load_checkpoint(out)
    assert checkpoint["step"] == 40
    assert checkpoint["vocabulary"] == list(VOCABULARY)
    assert checkpoint["proteins"][0]["sequence"] == "TYR TYR ASP PRO GLU THR GLY THR TRP TYR".split()
    assert {"torch", "e3nn", "mdtraj", "openmm"} <= set(checkpoint["versions"])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["seed"] == 3 and saved["temperature_K"] == 350.0 and saved["lag_ps"] == 100.0
    assert saved["model"]["H"] == 4 and saved["datasets"][0]["trajectories"] == chignolin.trajectories

    model, stored = load_trained_model(out)
    assert stored.model == TINY and stored.transport == TransportConfig()
    for name, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["model"][name]), name


def test_resume_continues_exactly(chignolin, tmp_path):
    seed2 = DatasetConfig(chignolin.topology, chignolin.trajectories[1:2])
    config = tiny_config([seed2], steps=7, cluster_sampling=True, n_clusters=10, start_noise_A=0.2)
    train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "halves", stop_after=4, progress=False)  # stops like an interrupted job
    assert load_checkpoint(tmp_path / "halves")["step"] == 4
    train(config, tmp_path / "halves", resume=True, progress=False)
    whole, halves = read_losses(tmp_path / "whole"), read_losses(tmp_path / "halves")
    assert len(whole) == 7 + 4  # train rows, and validations at steps 0, 3, 6 and the last step
    assert halves == whole
    # a resumed run's progress bar starts from the last validation before its checkpoint (step 3), not NaN
    log = LossLog(tmp_path / "halves" / LOSSES_NAME, resume_step=4)
    assert log.last_validation == float([r for r in whole if r["split"] == "val" and r["step"] == "3"][0]["loss"])


def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_refused_clearly(tiny_model, tmp_path):
    checkpoint = load_checkpoint(tiny_model / "model.pt")
    checkpoint["config"]["transport"]["parameterization"] = "drift"  # four headers, the weights have two
    save_checkpoint(tmp_path / "model.pt", checkpoint)
    with pytest.raises(ValueError, match=r"model\.pt: its weights do not fit the model its config describes "
                                         r"\(\d+ missing.*\d+ unexpected"):
        load_trained_model(tmp_path / "model.pt")


def test_start_noise_must_not_be_negative():
    with pytest.raises(ConfigError, match="start_noise_A must be >= 0"):
        TrainConfig(start_noise_A=-0.1)


def test_cli_resume_extends_a_run(chignolin, tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["--dataset", chignolin.topology, chignolin.trajectories[1], "--out", out, "--no-progress",
            "--batch-size", "2"]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "validation_pairs": 2, "lr_decay_steps": 10}))
    main(base + ["--steps", "3", "--config", str(config)])
    assert re.search("error: --resume: .* was trained on other data", bad_input(
        main, ["--out", out, "--resume", "--dataset", chignolin.topology, chignolin.trajectories[0]], capsys))
    # a changed setting is refused by name, not silently ignored; a new run never replaces this one unasked
    assert re.search(r"error: --resume: .* was trained with lag_ps=100\.0; only --steps may change",
                     bad_input(main, ["--out", out, "--resume", "--lag-ps", "50"], capsys))
    assert re.search("already holds a training run .*--resume.*--force", bad_input(main, base + ["--steps", "3"],
                                                                                     capsys))
    main(["--out", out, "--resume", "--steps", "5", "--no-progress"])
    assert load_checkpoint(out)["step"] == 5
    assert [int(r["step"]) for r in read_losses(Path(out)) if r["split"] == "train"] == [1, 2, 3, 4, 5]
    main(base + ["--steps", "2", "--config", str(config), "--force"])
    assert load_checkpoint(out)["step"] == 2


def test_several_proteins_and_charmm_gromacs_inputs(chignolin, alpha3d, tmp_path):
    datasets = [alpha3d,
                DatasetConfig(str(TRAIN_FIXTURES / "chignolin_charmm.psf"),
                              [str(TRAIN_FIXTURES / "chignolin_charmm.dcd")]),
                DatasetConfig(str(TRAIN_FIXTURES / "chignolin_gromacs.gro"),
                              [str(TRAIN_FIXTURES / "chignolin_gromacs.xtc")],
                              name="chignolin_gromacs")]
    with pytest.warns(UserWarning, match="too short to give"):  # 14 and 30 frames: no room for validation
        path = train(tiny_config(datasets, steps=3, batch_size=3), tmp_path, progress=False)
    proteins = load_checkpoint(path)["proteins"]
    assert [p["name"] for p in proteins] == ["a3d_amber14", "chignolin_charmm", "chignolin_gromacs"]
    assert len(proteins[0]["sequence"]) == 73
    assert all(np.isfinite(float(r["loss"])) for r in read_losses(tmp_path))


def test_yaml_lists_proteins_relative_to_itself_and_refuses_typos(tmp_path):
    listing = tmp_path / "proteins.yaml"
    listing.write_text(yaml.safe_dump({"lag_ps": 50, "datasets": [
        {"topology": "a.psf", "trajectories": ["a1.dcd", "sub/a2.xtc"], "frame_ps": 10},
        {"topology": "/abs/b.gro", "trajectories": ["/abs/b.xtc"], "name": "b"}],
        "interpolant": {"sigma_P": 1.0}}))
    config = load_train_config(listing)
    assert config.lag_ps == 50 and config.transport.sigma_P == 1.0
    assert config.datasets[0].trajectories == [str(tmp_path / "a1.dcd"), str(tmp_path / "sub" / "a2.xtc")]
    assert config.datasets[1] == DatasetConfig("/abs/b.gro", ["/abs/b.xtc"], None, "b")
    assert config_from_dict(TrainConfig, config_to_dict(config)) == config
    with pytest.raises(ConfigError, match=r"unknown ModelConfig setting\(s\) \['hidden'\]"):
        config_from_dict(TrainConfig, {"model": {"hidden": 8}})
    with pytest.raises(ConfigError, match=r"config\.model: ModelConfig\.H must be >= 1"):
        config_from_dict(TrainConfig, {"model": {"H": 0}})


def test_learning_rate_decays_linearly_like_the_paper():
    paper = TrainConfig(steps=1000, lr=1e-2, lr_final=1e-3)
    assert learning_rate(paper, 0) == 1e-2
    assert learning_rate(paper, 500) == pytest.approx(5.5e-3)
    assert learning_rate(paper, 1000) == pytest.approx(1e-3)
    held = TrainConfig(steps=1000, lr_decay_steps=100)
    assert learning_rate(held, 0) == 3e-3 and learning_rate(held, 700) == pytest.approx(3e-4)


def test_cli_errors_name_the_file_and_the_cause(chignolin, tmp_path, capsys):
    topology, xtc = chignolin.topology, chignolin.trajectories[1]
    assert re.search(r"error: trajectory .*seed2\.xtc: the lag of 25 ps is not a whole multiple", bad_input(
        main, ["--topology", topology, "--trajectories", xtc, "--lag-ps", "25",
               "--out", tmp_path / "a", "--no-progress"], capsys))
    assert re.search(r"error: no checkpoint at .*b/checkpoint\.pt",
                     bad_input(main, ["--out", tmp_path / "b", "--resume"], capsys))
    assert re.search(r"error: trajectory .*missing\.xtc: no such file", bad_input(
        main, ["--topology", topology, "--trajectories", tmp_path / "missing.xtc",
               "--out", tmp_path / "c", "--no-progress"], capsys))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_at_a_step_boundary_and_resumes_exactly(chignolin, tmp_path, signum):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "batch_size": 2, "validate_every": 5,
                                      "validation_pairs": 4, "checkpoint_every": 1000}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def command(out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "openmm_equijump.train", "--dataset", chignolin.topology,
                chignolin.trajectories[1], "--out", str(out), "--steps", "40", "--config", str(config),
                "--no-progress", *extra]

    subprocess.run(command(tmp_path / "whole"), env=env, check=True, capture_output=True)
    run = subprocess.Popen(command(tmp_path / "interrupted"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    losses = tmp_path / "interrupted" / "losses.csv"
    deadline = time.monotonic() + 300
    while not (losses.is_file() and "train" in losses.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 130, stderr.decode()
    stopped_at = load_checkpoint(tmp_path / "interrupted")["step"]
    assert 0 < stopped_at < 40 and b"continue with --resume" in stderr
    assert signal.Signals(signum).name.encode() in stderr
    subprocess.run(command(tmp_path / "interrupted", "--resume"), env=env, check=True, capture_output=True)
    assert read_losses(tmp_path / "interrupted") == read_losses(tmp_path / "whole")


def test_walk_jump_training_through_the_cli_measures_its_scale_and_resumes_exactly(chignolin, tmp_path, capsys):
    """--method walk-jump --sigma-A: single frames (no lag), C measured once and stored, resume exact and
    refusing another sigma by name."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "validation_pairs": 4, "validate_every": 2,
                                      "checkpoint_every": 2, "lr_decay_steps": 10}))
    base = ["--dataset", chignolin.topology, *chignolin.trajectories[:2], "--no-progress", "--batch-size", "2",
            "--method", "walk-jump", "--sigma-A", "0.3", "--config", str(config)]
    whole, part = str(tmp_path / "whole"), str(tmp_path / "part")
    assert main(base + ["--out", whole, "--steps", "4"]) == 0
    stored = load_checkpoint(whole)["config"]
    assert stored["method"] == "walk-jump" and stored["walk_jump"]["sigma_A"] == 0.3
    assert 20.0 < stored["walk_jump"]["mean_sq_distance_A2"] < 80.0
    assert "training frames" in capsys.readouterr().out
    losses = read_losses(Path(whole))
    assert {"loss", "mse_A2", "scaled_rmsd"} <= set(losses[0])
    assert main(base + ["--out", part, "--steps", "2"]) == 0
    assert re.search(r"error: --resume: .* was trained with walk_jump=.*sigma_A.: 0\.3",
                     bad_input(main, ["--out", part, "--resume", "--sigma-A", "0.6"], capsys))
    assert main(["--out", part, "--resume", "--steps", "4", "--no-progress"]) == 0
    for a, b in zip(read_losses(Path(whole)), read_losses(Path(part))):
        assert a == b
    torch.testing.assert_close(load_checkpoint(part)["model"], load_checkpoint(whole)["model"], rtol=0, atol=0)


def test_diffmd_training_through_the_cli_measures_its_scales_and_resumes_exactly(chignolin, tmp_path, capsys):
    """--method diffmd: windows of two earlier frames, u and abar measured once and stored, a short lag of one
    frame accepted, resume exact and refusing another history by name."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "validation_pairs": 4, "validate_every": 2,
                                      "checkpoint_every": 2, "lr_decay_steps": 10, "diffmd": {"history": 1}}))
    base = ["--dataset", chignolin.topology, *chignolin.trajectories[:2], "--no-progress", "--batch-size", "2",
            "--method", "diffmd", "--lag-ps", "10", "--config", str(config)]
    whole, part = str(tmp_path / "whole"), str(tmp_path / "part")
    assert main(base + ["--out", whole, "--steps", "4"]) == 0
    stored = load_checkpoint(whole)["config"]
    assert stored["method"] == "diffmd" and stored["diffmd"]["history"] == 1 and stored["lag_ps"] == 10
    assert 0.3 < stored["diffmd"]["unit_A"] < 3.0 and stored["diffmd"]["accel_threshold_A"] > 0
    assert "training windows" in capsys.readouterr().out
    assert {"loss", "noise_P", "noise_V", "floor"} <= set(read_losses(Path(whole))[0])
    assert main(base + ["--out", part, "--steps", "2"]) == 0
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "diffmd": {"history": 2}}))
    assert re.search(r"error: --resume: .* was trained with .*diffmd=.*'history': 1",
                     bad_input(main, ["--out", part, "--resume", "--config", str(other)], capsys))
    assert main(["--out", part, "--resume", "--steps", "4", "--no-progress"]) == 0
    for a, b in zip(read_losses(Path(whole)), read_losses(Path(part))):
        assert a == b
    torch.testing.assert_close(load_checkpoint(part)["model"], load_checkpoint(whole)["model"], rtol=0, atol=0)
