"""`python -m openmm_equijump.analyze` end to end: a heavy-atom-only generated run with its own topology."""
import json

import mdtraj as md
import pytest

from openmm_equijump.cli.analyze import main
from openmm_equijump.analysis.plots import FIGURES


def test_cli_writes_metrics_and_figures(tmp_path, shared_data, capsys):
    md_dir = shared_data / "md"
    full = md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=str(md_dir / "chignolin_amber14.pdb"))
    heavy = full.atom_slice(full.topology.select("not element H"))[::10]  # 100 ps jumps, no hydrogens
    heavy[0].save_pdb(str(tmp_path / "heavy.pdb"))
    heavy.save_dcd(str(tmp_path / "jumps.dcd"))
    out = tmp_path / "out"
    argv = ["--topology", str(md_dir / "chignolin_amber14.pdb"),
            "--reference", str(md_dir / "chignolin_obc2_350K_seed1.dcd"),
            "--generated", str(tmp_path / "jumps.dcd"), "--generated-topology", str(tmp_path / "heavy.pdb"),
            "--generated-frame-ps", "100", "--native", str(shared_data / "structures" / "CLN025.pdb"),
            "--out", str(out), "--chemistry-frames", "500"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["generated_frame_ps"] == 100.0
    resolved = metrics["resolved_settings"]
    # 30 generated frames of 100 ps: MSM lag a tenth of 3 ns, in both ensembles' frames
    assert (resolved["msm_lag_ps"], resolved["msm_lag_generated_frames"],
            resolved["msm_lag_reference_frames"]) == (300.0, 3, 30)
    rmsd = metrics["generated_vs_reference"]["observables"]["rmsd"]
    assert sum(rmsd["generated_counts"]) == 30 and sum(rmsd["reference_counts"]) == 600
    assert len(rmsd["reference_counts"]) == rmsd["n_bins"] == 30
    assert metrics["noise_floor"]["divergences_reweighted"]["tic1"] >= 0
    for name in FIGURES:
        assert (out / name).stat().st_size > 10_000, name
    printed = capsys.readouterr().out
    assert "noise floor" in printed and "tic1" in printed


def test_cli_paper_preset_names_the_setting_that_does_not_fit(tmp_path, shared_data):
    md_dir = shared_data / "md"
    argv = ["--topology", str(md_dir / "chignolin_amber14.pdb"),
            "--reference", str(md_dir / "chignolin_obc2_350K_seed1.dcd"),
            "--generated", str(md_dir / "chignolin_obc2_350K_seed2.dcd"),
            "--native", str(shared_data / "structures" / "CLN025.pdb"), "--out", str(tmp_path), "--preset", "paper"]
    with pytest.raises(ValueError, match="msm_lag_ps"):
        main(argv)
