"""`python -m openmm_equijump.analyze` end to end: a heavy-atom-only generated run with its own topology."""
import json

import mdtraj as md

from openmm_equijump.analysis.plots import FIGURES
from openmm_equijump.cli.analyze import main

from helpers import SHIPPED, bad_input

REFERENCE = SHIPPED / "reference"  # heavy atoms of the chignolin MD, 10 ps per frame


def test_cli_writes_metrics_and_figures(tmp_path, capsys):
    seed2 = md.load(str(REFERENCE / "md_seed2.xtc"), top=str(REFERENCE / "heavy_atoms.pdb"))[::10]  # 100 ps jumps
    seed2[0].save_pdb(str(tmp_path / "heavy.pdb"))
    seed2.save_dcd(str(tmp_path / "jumps.dcd"))
    out = tmp_path / "out"
    argv = ["--topology", str(REFERENCE / "heavy_atoms.pdb"), "--reference", str(REFERENCE / "md_seed1.xtc"),
            "--generated", str(tmp_path / "jumps.dcd"), "--generated-topology", str(tmp_path / "heavy.pdb"),
            "--generated-frame-ps", "100", "--native", str(SHIPPED / "structure.pdb"),
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


def test_cli_paper_preset_names_the_setting_that_does_not_fit(tmp_path, capsys):
    argv = ["--topology", REFERENCE / "heavy_atoms.pdb", "--reference", REFERENCE / "md_seed1.xtc",
            "--generated", REFERENCE / "md_seed2.xtc", "--native", SHIPPED / "structure.pdb", "--out", tmp_path,
            "--preset", "paper"]
    assert "msm_lag_ps" in bad_input(main, argv, capsys)
