"""Training on two gloo processes (``torchrun --standalone --nproc_per_node 2``, ``training.distributed``):
the same losses and weights as one process at the same global batch, exact resume, and the frame cache.

The data mix two proteins (chignolin and its first six residues), so that the two processes' rows of a batch
hold different numbers of real coordinates: their loss shares must still add up to the one-process loss.
"""
import os
import subprocess
import sys
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import torch
import yaml

from openmm_equijump.cli.train import main
from openmm_equijump.config import config_to_dict
from openmm_equijump.errors import ConfigError
from openmm_equijump.model.checkpoint import load_checkpoint
from openmm_equijump.training.distributed import World
from openmm_equijump.training.loop import FRAMES_CACHE_NAME

from helpers import ROOT, SHIPPED, read_losses
from test_train import TINY

STEPS = 4


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """A tiny run on two proteins, with every source of randomness on (cluster sampling, start noise), 5
    validation pairs (a last chunk of one pair: fewer than the processes), checkpoints only at the end."""
    folder = tmp_path_factory.mktemp("two_proteins")
    reference = SHIPPED / "reference"
    md = mdtraj.load(str(reference / "md_seed2.xtc"), top=str(reference / "heavy_atoms.pdb"))
    part = md.atom_slice(md.topology.select("resid 0 to 5"))[:150]
    part[0].save_pdb(str(folder / "part.pdb"))
    part.save_xtc(str(folder / "part.xtc"))
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": [{"topology": str(reference / "heavy_atoms.pdb"), "trajectories": [str(reference / "md_seed2.xtc")]},
                     {"topology": "part.pdb", "trajectories": ["part.xtc"]}],
        "model": config_to_dict(TINY), "steps": STEPS, "batch_size": 4, "validation_pairs": 5, "validate_every": 2,
        "checkpoint_every": 100, "start_noise_A": 0.2, "cluster_sampling": True, "n_clusters": 8}))
    return path


def arguments(config_file: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(config_file), "--out", str(out), "--no-progress", "--device", "cpu", *extra]


def torchrun(config_file: Path, out: Path, *extra: str) -> None:
    """The training command under ``torchrun --standalone --nproc_per_node 2`` (gloo), of this checkout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "openmm_equijump.train", *arguments(config_file, out, *extra)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def two_processes(config_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("two_processes") / "run"
    torchrun(config_file, out)
    return out


def assert_same_losses(rows, expected):
    """Equal to 1e-6 relative, or 1e-8 absolute for the small terms that are differences of larger parts."""
    assert [(r["step"], r["split"], r["lr"]) for r in rows] == [(r["step"], r["split"], r["lr"]) for r in expected]
    for row, want in zip(rows, expected):
        for name in ("loss", "x1_P", "x1_V", "floor"):
            np.testing.assert_allclose(float(row[name]), float(want[name]), rtol=1e-6, atol=1e-8, err_msg=f"{name} {row}")


def test_two_processes_agree_with_one_at_the_same_global_batch(config_file, two_processes, tmp_path):
    one = tmp_path / "one"
    assert main(arguments(config_file, one)) == 0
    rows, expected = read_losses(two_processes), read_losses(one)
    assert len(expected) == STEPS + 3  # validations at steps 0, 2, 4
    assert_same_losses(rows, expected)
    weights, reference = load_checkpoint(two_processes)["model"], load_checkpoint(one)["model"]
    for name, value in reference.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-6, atol=1e-7)
    assert sorted(p.name for p in (two_processes / FRAMES_CACHE_NAME).iterdir()) == sorted(
        p.name for p in (one / FRAMES_CACHE_NAME).iterdir())  # rank 0 wrote it once, with no stray writes


@pytest.mark.slow  # about 40 s: two more torchrun launches
def test_an_interrupted_two_process_run_resumes_exactly(config_file, two_processes, tmp_path):
    out = tmp_path / "halves"
    torchrun(config_file, out, "--stop-after", "3")
    assert load_checkpoint(out)["step"] == 3
    torchrun(config_file, out, "--resume")
    assert read_losses(out) == read_losses(two_processes)
    weights, reference = load_checkpoint(out)["model"], load_checkpoint(two_processes)["model"]
    assert all(torch.equal(weights[name], value) for name, value in reference.items())


def test_each_process_takes_its_rows_of_a_global_batch():
    assert [World(r, 2).rows(4) for r in range(2)] == [slice(0, 2), slice(2, 4)]
    assert [World(r, 3).rows(4) for r in range(3)] == [slice(0, 2), slice(2, 3), slice(3, 4)]
    assert [World(r, 3).rows(2) for r in range(3)] == [slice(0, 1), slice(1, 2), slice(2, 2)]
    assert World().rows(4) is None
    with pytest.raises(ConfigError, match="batch_size 6 .* world size of 4 processes"):
        World(0, 4).check_batch_size(6)
