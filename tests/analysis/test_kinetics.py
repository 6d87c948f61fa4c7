"""Kinetics estimators against processes whose answers are known, and the report on the package's own MD."""
from __future__ import annotations

from pathlib import Path

import mdtraj
import numpy as np
import pytest
import yaml

from openmm_equijump.analysis.kinetics import (FOLDED, UNASSIGNED, UNFOLDED, KineticsInput, KineticsSettings,
                                               autocorrelation_time_ns, bootstrap, core_set_states, implied_timescales_ns,
                                               kinetics, mean_first_passage_ns, paired_rmsd_A)
from openmm_equijump.cli.kinetics import main

ROOT = Path(__file__).resolve().parents[2]
TRAINING_MD = ROOT / "openmm_equijump" / "pretrained" / "chignolin" / "training_md"


def two_state_chain(n_frames: int, p_fold: float, p_unfold: float, rng) -> np.ndarray:
    """(n_frames,) 1 = folded, 0 = unfolded; per frame an unfolded chain folds with p_fold and vice versa."""
    states = np.empty(n_frames, dtype=int)
    state = 0
    for i, u in enumerate(rng.random(n_frames)):
        state = (1 if u < p_fold else 0) if state == 0 else (0 if u < p_unfold else 1)
        states[i] = state
    return states


@pytest.fixture(scope="module")
def chains():
    rng = np.random.default_rng(3)
    return [two_state_chain(20000, 0.01, 0.04, rng) for _ in range(8)]


def test_core_sets_assign_each_frame_to_the_last_core_visited():
    rmsd = np.array([3.0, 5.0, 3.0, 1.0, 3.0, 3.0, 4.5, 2.0])
    expected = [UNASSIGNED, UNFOLDED, UNFOLDED, FOLDED, FOLDED, FOLDED, UNFOLDED, UNFOLDED]
    np.testing.assert_array_equal(core_set_states(rmsd, 1.5, 4.0), expected)
    with pytest.raises(ValueError, match="folded core"):
        core_set_states(rmsd, 4.0, 1.5)


def test_first_passage_times_of_a_two_state_chain_match_its_rates(chains):
    rmsd = [np.where(c == 1, 1.0, 5.0) for c in chains]
    states = [core_set_states(r, 1.5, 4.0) for r in rmsd]
    fold, unfold = mean_first_passage_ns(states, frame_ns=0.01)
    assert fold == pytest.approx(0.01 / 0.01, rel=0.08)  # 1 ns
    assert unfold == pytest.approx(0.01 / 0.04, rel=0.08)  # 0.25 ns


def test_no_switch_gives_an_infinite_first_passage_time():
    assert mean_first_passage_ns([np.full(50, UNFOLDED)], 0.01)[0] == float("inf")


def test_implied_timescale_of_a_two_state_chain(chains):
    # second eigenvalue of the per-frame matrix: 1 - 0.01 - 0.04; at any lag t_2 = -dt / ln(lambda_2)
    timescales = implied_timescales_ns(chains, 2, 5, 0.01, 1)
    assert timescales[0] == pytest.approx(-0.01 / np.log(0.95), rel=0.1)


def test_autocorrelation_time_of_an_ar1_process():
    rng = np.random.default_rng(5)
    phi, series = 0.9, []
    for _ in range(10):
        x = np.zeros(20000)
        for i in range(1, len(x)):
            x[i] = phi * x[i - 1] + rng.normal()
        series.append(x)
    expected_frames = 0.5 + phi / (1 - phi)  # dt (1/2 + sum_t phi^t)
    assert autocorrelation_time_ns(series, 1.0, 500) == pytest.approx(expected_frames, rel=0.1)


def test_bootstrap_interval_holds_the_mean_and_shrinks_with_more_trajectories():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, 400)
    few = bootstrap(20, lambda idx: values[:20][idx].mean(), 300, 0)
    many = bootstrap(400, lambda idx: values[idx].mean(), 300, 0)
    assert few.low < few.value < few.high and many.low < 1.0 < many.high
    assert many.high - many.low < 0.5 * (few.high - few.low)


def test_the_kinetics_bootstrap_resamples_the_stretches_of_one_run_together():
    """Two runs, one cut into three stretches: resampling the three as one unit gives the two-run interval."""
    values = np.array([0.0, 0.0, 0.0, 1.0])  # run 0: three stretches of 0; run 1: one of 1
    mean = lambda idx: values[idx].mean()  # noqa: E731
    by_run = bootstrap(4, mean, 500, 0, runs=[0, 0, 0, 1])
    assert by_run.value == 0.25
    assert (by_run.low, by_run.high) == (0.0, 1.0)


def test_paired_rmsd_matches_mdtraj_on_real_frames():
    traj = mdtraj.load(str(TRAINING_MD / "md_seed1001.xtc"), top=str(TRAINING_MD / "heavy_atoms.pdb"))[:40]
    lagged = paired_rmsd_A(traj.xyz[:-10], traj.xyz[10:])
    expected = np.array([mdtraj.rmsd(traj[i + 10], traj, i)[0] for i in range(30)]) * 10
    np.testing.assert_allclose(lagged, expected, atol=1e-3)


def test_kinetics_of_the_two_state_chain_reports_its_folded_fraction_with_an_interval(chains):
    data = KineticsInput(rmsd_A=[np.where(c == 1, 1.0, 5.0) for c in chains],
                         tic1=[c.astype(float) for c in chains], dtrajs=chains,
                         calphas_nm=[np.zeros((len(c), 3, 3)) for c in chains], frame_ns=0.01, n_clusters=2)
    report = kinetics(data, KineticsSettings(msm_lag_ns=0.05, n_bootstrap=50, n_timescales=1))
    truth = 0.01 / (0.01 + 0.04)
    assert report["folded_fraction"].low < truth < report["folded_fraction"].high
    assert len(report["folded_fraction_per_run"]) == 8
    assert report["implied_timescale_1_ns"].value == pytest.approx(-0.01 / np.log(0.95), rel=0.1)
    data.runs = [0, 0, 1, 1, 2, 2, 3, 3]  # the same chains as four runs of two stretches each
    paired = kinetics(data, KineticsSettings(msm_lag_ns=0.05, n_bootstrap=50, n_timescales=1))
    assert paired["runs"] == 4 and paired["folded_fraction"].value == report["folded_fraction"].value
    first = np.concatenate(data.rmsd_A[:2]) < 2.0
    assert paired["folded_fraction_per_run"][0] == pytest.approx(first.mean())


def test_kinetics_command_on_the_campaign_and_a_second_set(tmp_path, capsys):
    out = tmp_path / "kinetics.yaml"
    generated = [str(TRAINING_MD / f"md_seed{s}.xtc") for s in (1005, 1006)]
    code = main(["--campaign", str(ROOT / "data" / "md" / "campaign.yaml"), "--bootstrap", "20",
                 "--generated", *generated, "--generated-topology", str(TRAINING_MD / "heavy_atoms.pdb"),
                 "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "mfpt_folding_ns" in text and "generated" in text
    report = yaml.safe_load(out.read_text())
    assert report["generated"]["trajectories"] == 2 and report["generated"]["ns"] == pytest.approx(20.0, abs=0.1)
    assert 0.0 <= report["reference MD"]["folded_fraction"]["value"] <= 1.0


def test_kinetics_command_names_a_missing_protein(capsys):
    assert main(["--campaign", str(ROOT / "data" / "md" / "campaign.yaml"), "--protein", "ubiquitin"]) == 2
    assert "ubiquitin" in capsys.readouterr().err


def test_the_msm_is_estimated_on_the_largest_connected_set_and_among_equals_the_most_counted():
    from openmm_equijump.analysis.msm import reversible_msm
    stuck, moving = np.zeros(100, dtype=int), np.array([1, 2] * 5)  # deeptime's population sort would take {0}
    connected, msm = reversible_msm([stuck, moving], 3, 1)
    assert list(connected.state_symbols) == [1, 2] and msm is not None
    connected, msm = reversible_msm([np.full(300, 7)], 10, 3)  # a run that never leaves cluster 7
    assert list(connected.state_symbols) == [7] and msm is None
