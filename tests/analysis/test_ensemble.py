"""Ensemble comparison without time (``analysis.ensemble``): angular divergences, chi1, prefix curves, and a
real comparison of reference MD against itself and against a distorted copy."""
import json
import math

import mdtraj as md
import numpy as np
import pytest

from openmm_equijump.analysis.ensemble import (angular_js, chi1_deg, compare_ensembles, divergence_curve,
                                               ensemble_divergences, sample_values)
from openmm_equijump.analysis.frames import load_ensemble

from helpers import SHIPPED

REFERENCE = SHIPPED / "reference"


@pytest.fixture(scope="module")
def reference():
    native = md.load(str(SHIPPED / "structure.pdb"))
    ensemble = load_ensemble(sorted(REFERENCE.glob("*.xtc")), REFERENCE / "heavy_atoms.pdb", native.topology,
                             None, "reference")
    return ensemble, native


def test_angular_divergence_of_same_and_disjoint_angles():
    rng = np.random.default_rng(0)
    a = rng.uniform(-180, -90, size=(500, 3))
    assert angular_js(a, a, 10.0) == 0.0
    assert angular_js(a, a + 180.0, 10.0) == pytest.approx(math.log(2))
    joint = rng.uniform(-180, -90, size=(500, 2, 2))
    assert angular_js(joint, joint[::-1], 20.0) == 0.0


def test_chi1_of_chignolin_from_heavy_atoms(reference):
    ensemble, native = reference
    chi1 = chi1_deg(ensemble.trajectories[0][:5])
    # CLN025, YYDPETGTWY: every residue but the glycine has a chi1
    assert chi1.shape == (5, 9)
    assert np.all(np.abs(chi1) <= 180.0)


def test_reference_against_itself_sits_at_zero_and_a_shifted_copy_does_not(reference):
    ensemble, native = reference
    comparison = compare_ensembles(ensemble, ensemble.trajectories, native)
    assert max(comparison.divergences.values()) < 1e-12
    assert set(comparison.noise_floor) == set(comparison.divergences)
    assert 0 < comparison.noise_floor["rmsd"] < math.log(2)
    # a copy with every frame of the first trajectory only: a different (narrower) ensemble
    first = compare_ensembles(ensemble, ensemble.trajectories[:1], native)
    assert first.divergences["rmsd"] > 0.0


def test_divergence_curve_follows_the_samples_in_order(reference):
    ensemble, native = reference
    comparison = compare_ensembles(ensemble, ensemble.trajectories, native)
    samples = sample_values(ensemble.trajectories[:1], comparison.fit)
    seconds = np.arange(1, len(samples) + 1, dtype=float)
    curve = divergence_curve(comparison.reference_values, samples, seconds, 30, points=5)
    assert curve["samples"][0] == 10 and curve["samples"][-1] == len(samples)
    assert curve["cpu_seconds"] == [float(k) for k in curve["samples"]]
    whole = ensemble_divergences(comparison.reference_values, samples, 30)
    assert curve["tic1"][-1] == pytest.approx(whole["tic1"])


def test_analyze_ensemble_compares_samples_and_writes_its_config(tmp_path, capsys):
    """``analyze --ensemble`` on real files: one reference trajectory as the samples of the other two; the
    config it writes reads back with ``--config`` and repeats the numbers."""
    from openmm_equijump.cli.analyze import main
    files = sorted(REFERENCE.glob("*.xtc"))
    args = ["--topology", str(REFERENCE / "heavy_atoms.pdb"), "--reference", *map(str, files[:2]),
            "--generated", str(files[2]), "--native", str(SHIPPED / "structure.pdb"), "--ensemble"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "phi_psi" in printed and "noise floor" in printed
    metrics = json.loads((tmp_path / "a" / "ensemble_metrics.json").read_text())
    assert set(metrics["divergences"]) == {"tic1", "tic2", "rmsd", "rg", "fnc", "phi_psi", "chi1"}
    assert 0 < metrics["divergences"]["rmsd"] < math.log(2)
    assert not (tmp_path / "a" / "metrics.json").exists()
    assert main(["--config", str(tmp_path / "a" / "analyze_config.yaml"), "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "ensemble_metrics.json").read_text())
    assert again["divergences"] == metrics["divergences"]
