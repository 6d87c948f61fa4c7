"""``python -m openmm_equijump.evaluate``: a batched rollout of a tiny trained model, checked and analysed."""
import json

import mdtraj
import numpy as np

from openmm_equijump.evaluate import main

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
