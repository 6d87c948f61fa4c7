"""``python -m openmm_equijump.analyze --tps`` on the shipped chignolin MD: start and end frames for
``interpolate``, then stretches of held-out MD judged as if they were generated paths; bad input named."""
import numpy as np
import pytest
import yaml
from openmm.app import PDBFile

from helpers import SHIPPED, bad_input
from openmm_equijump.analysis.tps_run import path_states
from openmm_equijump.cli.analyze import main
from openmm_equijump.errors import ConfigError
from openmm_equijump.analysis.frames import AnalysisInputError
from openmm_equijump.jobs.rollout import write_dcds

REFERENCE = SHIPPED / "reference"
#: Few clusters and metastates for 9 ns of reference MD (the paper's 100 and 10 need far more).
SMALL = ["--n-clusters", "20", "--n-metastates", "4", "--bridges", "200"]


def reference_flags(out) -> list:
    return ["--tps", "--topology", REFERENCE / "heavy_atoms.pdb", "--reference", REFERENCE / "md_seed1.xtc",
            REFERENCE / "md_seed2.xtc", "--out", out, *SMALL]


@pytest.fixture(scope="module")
def md_paths(tmp_path_factory):
    """Eight stretches of 9 frames (80 ps) of held-out MD, written as interpolate writes its paths."""
    import mdtraj
    folder = tmp_path_factory.mktemp("md_paths")
    held_out = mdtraj.load(str(REFERENCE / "md_seed101.xtc"), top=str(REFERENCE / "heavy_atoms.pdb"))
    frames = np.stack([held_out.xyz[k * 150:k * 150 + 9] for k in range(8)])
    topology = PDBFile(str(REFERENCE / "heavy_atoms.pdb")).topology
    return write_dcds(folder, topology, frames, 10.0, name="path")


def test_tps_without_paths_writes_start_and_end_frames_of_the_least_flux_pair(tmp_path, capsys):
    native = SHIPPED / "structure.pdb"
    assert main([str(a) for a in reference_flags(tmp_path) + ["--endpoints", "2", "--native", native]]) == 0
    report = yaml.safe_load((tmp_path / "tps_report.yaml").read_text())
    rmsd = report["metastate_median_rmsd_A"]  # each metastate's median C-alpha RMSD to native
    assert len(rmsd) == 4 and min(rmsd) < 1.0 and max(rmsd) > 3.0  # a folded metastate and unfolded ones
    start, end = report["start_metastate"], report["end_metastate"]
    flux = np.array(report["flux"])
    exchanging = flux[(flux >= 1e-4) & ~np.eye(4, dtype=bool)]
    assert flux[start, end] == exchanging.min() and start < end
    assert sorted(p.name for p in (tmp_path / "endpoints").iterdir()) == ["end_0.pdb", "end_1.pdb", "start_0.pdb",
                                                                         "start_1.pdb"]
    assert [e["metastate"] for e in report["endpoints"]] == [start, start, end, end]
    assert PDBFile(str(tmp_path / "endpoints" / "start_0.pdb")).topology.getNumAtoms() == 93
    printed = capsys.readouterr().out
    assert f"start metastate {start}, end {end}" in printed and "median C-alpha RMSD to native (A)" in printed
    saved = yaml.safe_load((tmp_path / "tps_config.yaml").read_text())
    assert saved["settings"]["n_metastates"] == 4 and saved["generated"] == []


def test_tps_judges_paths_beside_reference_bridges_md_stretches_and_oracles(md_paths, tmp_path, capsys):
    flags = reference_flags(tmp_path) + ["--states", "0", "2", "--msm-lag-ps", "20", "--generated", *md_paths,
                                         "--generated-topology", REFERENCE / "heavy_atoms.pdb",
                                         "--oracle", REFERENCE / "md_seed101.xtc", "--oracle-ns", "0.5", "6"]
    assert main([str(a) for a in flags]) == 0
    printed = capsys.readouterr().out
    assert "JS divergence / distance" in printed and "valid rate" in printed
    report = yaml.safe_load((tmp_path / "tps_report.yaml").read_text())
    assert report["path_states"] == 5 and report["msm_lag_ps"] == 20.0  # 9 frames of 10 ps read every 20 ps
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) >= {"reference MSM bridges x 8", "generated", "reference MD stretches", "MD oracle 6 ns x 1"}
    floor = rows["reference MSM bridges x 8"]  # 8 bridges drawn apart from the 200 that define the occupancy
    assert floor["valid_rate"] == 1.0 and floor["paths"] == 8 and 0.0 < floor["js_divergence"] < 0.5
    stretches = rows["reference MD stretches"]  # real MD from start to end is valid by construction
    assert stretches["paths"] > 0 and stretches["valid_rate"] == 1.0
    generated = rows["generated"]
    assert generated["paths"] == 8 and 0.0 <= generated["valid_rate"] <= 1.0
    assert generated["js_distance"] == pytest.approx(np.sqrt(generated["js_divergence"]))
    assert sum(generated["occupancy"]) == pytest.approx(1.0)
    assert (tmp_path / "tps.png").stat().st_size > 0


def test_paths_must_share_a_length_and_be_read_in_whole_msm_lags():
    with pytest.raises(AnalysisInputError, match=r"different lengths \(\[3, 5\] frames\)"):
        path_states([np.zeros(5, int), np.zeros(3, int)], 10.0, 10.0)
    with pytest.raises(ConfigError, match="not a whole number of MSM lags of 30 ps; choose a --msm-lag-ps that divides "
                                          "40 ps"):
        path_states([np.zeros(5, int)], 10.0, 30.0)
    assert path_states([np.arange(5)], 10.0, 20.0).tolist() == [[0, 2, 4]]


def test_tps_bad_input_is_named(tmp_path, capsys):
    assert "--tps needs --reference, --out" in bad_input(
        main, ["--tps", "--topology", REFERENCE / "heavy_atoms.pdb"], capsys)
    assert "states must be two different metastates" in bad_input(
        main, reference_flags(tmp_path) + ["--states", "1", "1"], capsys)
    assert "metastate 7 does not exist: there are 4" in bad_input(
        main, reference_flags(tmp_path) + ["--states", "0", "7"], capsys)
    assert "12 metastates cannot be made" in bad_input(
        main, reference_flags(tmp_path) + ["--n-metastates", "12", "--n-clusters", "10"], capsys)
