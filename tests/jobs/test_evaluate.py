"""``python -m openmm_equijump.evaluate``: a batched rollout of a tiny trained model, checked and analysed."""
import json

import mdtraj
import numpy as np

import pytest

from openmm_equijump.cli.evaluate import main
from openmm_equijump.trajectory_files import dcd_header_interval_ps

from helpers import SHIPPED

REPLICAS, JUMPS = 2, 25  # the analysis needs 20 generated frames or more


def test_evaluation_writes_checks_metrics_and_trajectories(tiny_model, tmp_path):
    out = tmp_path / "eval"
    main(["--model", str(tiny_model), "--replicas", str(REPLICAS), "--jumps", str(JUMPS), "--latent-steps", "2",
          "--mode", "ode", "--out", str(out)])
    result = json.loads((out / "evaluation.json").read_text())
    assert result["batch_size"] == REPLICAS and len(result["stability"]) == REPLICAS
    for report in result["stability"]:
        assert report["frames"] == JUMPS
        assert report["first_bad_frame"] is None or 0 <= report["first_bad_frame"] < JUMPS
    assert 0 <= result["replicas_blown_up"] <= REPLICAS
    metrics = json.loads((out / "analysis" / "metrics.json").read_text())
    assert "tic1" in json.dumps(metrics)
    assert (out / "analysis" / "tica_free_energy.png").is_file()
    trajectory = mdtraj.load(str(out / "replica_0.dcd"), top=result["config"]["pdb"])
    assert 0 < trajectory.n_frames <= JUMPS and np.isfinite(trajectory.xyz).all()
    rows = result["stability_by_jump"]
    assert [row["frame"] for row in rows] == [0, 1, 4, 9, 19, 24]
    assert all(0 <= row["sound"] <= row["finite"] <= REPLICAS for row in rows)
    assert result["stability_table"].startswith("| after jump | 1 | 2 | 5 | 10 | 20 | 25 |")


def test_a_burn_in_that_is_not_whole_jumps_or_leaves_nothing_is_refused_before_the_rollout(tiny_model, tmp_path,
                                                                                          capsys):
    for burn_in in ("150", "2500"):  # 1.5 jumps; all 25 jumps
        out = tmp_path / f"eval_{burn_in}"
        assert main(["--model", str(tiny_model), "--replicas", "1", "--jumps", str(JUMPS), "--burn-in-ps", burn_in,
                     "--out", str(out)]) == 2
        assert f"burn_in_ps = {burn_in} must be a whole number of the model's 100 ps jumps" in capsys.readouterr().err
        assert not list(out.glob("*.dcd"))


def test_stability_by_frame_counts_what_breaks():
    """Real MD frames meet every criterion; a copy with an atom pushed onto its neighbour at frame 1 and NaN at
    frame 2 is counted as unsound and non-finite there, and the pooled statistics skip the NaN replica."""
    from openmm_equijump.analysis.stability import stability_by_frame, stability_table

    reference = SHIPPED / "reference"
    md = mdtraj.load(str(reference / "md_seed1.xtc"), top=str(reference / "heavy_atoms.pdb"))[:3]
    broken = md[:]
    broken.xyz = md.xyz.copy()
    a, b = md.topology.select("not element H")[:2]
    broken.xyz[1, b] = broken.xyz[1, a] + 0.005  # 0.09 A from heavy atom a
    broken.xyz[2, 5] = np.nan
    rows = stability_by_frame([md, broken], [0, 1, 2])
    assert [(r["finite"], r["sound"]) for r in rows] == [(2, 2), (2, 1), (1, 1)]
    assert rows[1]["closest_heavy_pair_A"] < 0.1 and rows[0]["closest_heavy_pair_A"] > 1.0
    assert 3.7 < rows[2]["ca_ca_mean_A"] < 3.9 and rows[2]["ca_ca_in_band"] == 1.0
    assert "| replicas finite | 2 / 2 | 2 / 2 | 1 / 2 |" in stability_table(rows)


def test_a_forward_blocks_model_is_evaluated_frame_by_frame(tiny_blocks_model, tmp_path):
    out = tmp_path / "eval_blocks"
    reference = SHIPPED / "reference"
    main(["--model", str(tiny_blocks_model), "--replicas", "2", "--jumps", str(JUMPS), "--latent-steps", "2",
          "--reference-topology", str(reference / "heavy_atoms.pdb"), "--reference",
          *map(str, sorted(reference.glob("*.xtc"))), "--out", str(out)])
    result = json.loads((out / "evaluation.json").read_text())
    assert [report["frames"] for report in result["stability"]] == [JUMPS, JUMPS]
    trajectory = mdtraj.load(str(out / "replica_0.dcd"), top=result["config"]["pdb"])
    assert dcd_header_interval_ps(out / "replica_0.dcd") == pytest.approx(10.0) and np.isfinite(trajectory.xyz).all()
