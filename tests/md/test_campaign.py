"""The reference-MD campaign: exact continuation after interruption, the manifest as the truth, clear errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import pytest
import yaml

from openmm_equijump.cli.campaign import main
from openmm_equijump.md.campaign import Campaign, CampaignError, CampaignRunner

ROOT = Path(__file__).resolve().parents[2]
STRUCTURES = ROOT / "data" / "md" / "structures"
STARTS = ROOT / "data" / "md" / "starts"


def write_campaign(folder: Path, **overrides) -> Path:
    """A campaign of one chignolin replica: two chunks of 2 ps, a frame every 0.4 ps (minutes -> seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(STRUCTURES / "chignolin_amber14.pdb", folder / "chignolin.pdb")
    shutil.copy(STARTS / "chignolin_unfolded_0.pdb", folder / "unfolded.pdb")
    settings = {"frame_ps": 0.4, "chunk_ns": 0.002, "proteins": [
        {"name": "chignolin", "structure": "chignolin.pdb", "replicas": 2, "ns_per_replica": 0.004, "seed": 11,
         "starts": ["chignolin.pdb", "unfolded.pdb"]}]}
    settings.update(overrides)
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def run(path: Path, **kwargs) -> CampaignRunner:
    runner = CampaignRunner(Campaign.load(path), "CPU", {"Threads": "1"})
    runner.run(progress=False, **kwargs)
    return runner


def final_state(folder: Path, replica: int) -> np.ndarray:
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    record = next(r for r in manifest["replicas"] if r["replica"] == replica)
    state = openmm.XmlSerializer.deserialize((folder / record["restart"]).read_text())
    return state.getPositions(asNumpy=True)._value


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    run(write_campaign(folder))
    return folder


def test_a_campaign_writes_heavy_atom_frames_with_times_and_a_manifest(uninterrupted):
    manifest = yaml.safe_load((uninterrupted / "manifest.yaml").read_text())
    assert manifest["ns_done"]["chignolin"]["ns_done"] == pytest.approx(0.008)
    for record in manifest["replicas"]:
        assert (record["chunks_done"], record["frames"], record["chunks_by_platform"]) == (2, 10, {"CPU": 2})
        xtc = uninterrupted / record["trajectory"]
        assert xtc.stat().st_size == record["xtc_bytes"]
        traj = mdtraj.load(str(xtc), top=str(uninterrupted / "chignolin" / "heavy_atoms.pdb"))
        assert traj.n_atoms == 93 and traj.n_frames == 10
        np.testing.assert_allclose(traj.time, 0.4 * np.arange(1, 11), atol=1e-4)  # ps, across the chunk seam
    assert manifest["software"][0]["platform"] == "CPU"
    assert manifest["protocol"]["temperature_K"] == 350.0


def test_an_interrupted_and_resumed_campaign_equals_an_uninterrupted_one(uninterrupted, tmp_path):
    path = write_campaign(tmp_path)
    run(path, max_chunks=3)  # replica 1 stops after its first chunk
    # What a kill in the middle of committing leaves behind: frames past the manifest, a newer restart, a temporary.
    replica = tmp_path / "chignolin" / "replica_01"
    with open(replica / "trajectory.xtc", "ab") as f:
        f.write(b"\0" * 999)
    (replica / "restart_0002.xml").write_text("half-written")
    (replica / "chunk_0001.xtc.tmp").write_bytes(b"junk")
    run(path)
    for i in (0, 1):
        np.testing.assert_allclose(final_state(tmp_path, i), final_state(uninterrupted, i), atol=1e-9)
        name = f"chignolin/replica_{i:02d}/trajectory.xtc"
        assert (tmp_path / name).read_bytes() == (uninterrupted / name).read_bytes()
    assert not list(replica.glob("*.tmp"))


def test_replicas_with_different_starts_and_seeds_differ(uninterrupted):
    assert np.abs(final_state(uninterrupted, 0) - final_state(uninterrupted, 1)).max() > 0.1


def test_a_started_campaign_refuses_a_changed_protocol(uninterrupted, tmp_path):
    shutil.copytree(uninterrupted, tmp_path / "copy")
    path = write_campaign(tmp_path / "copy", frame_ps=0.8)
    with pytest.raises(CampaignError, match="frame_ps"):
        CampaignRunner(Campaign.load(path))


def test_a_start_structure_on_another_topology_is_refused_by_name(tmp_path):
    path = write_campaign(tmp_path)
    shutil.copy(STRUCTURES / "trpcage_amber14.pdb", tmp_path / "unfolded.pdb")
    with pytest.raises(CampaignError, match="unfolded.pdb"):
        run(path)


def test_the_command_names_a_missing_file_and_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere.yaml")]) == 2
    assert "nowhere.yaml" in capsys.readouterr().err
    path = write_campaign(tmp_path, proteins=[{"name": "x", "structure": "missing.pdb", "replicas": 1,
                                                "ns_per_replica": 0.002, "seed": 1}])
    assert main([str(path)]) == 2
    assert "missing.pdb" in capsys.readouterr().err


def test_the_shipped_campaign_file_loads_and_its_manifest_matches_its_files():
    folder = ROOT / "data" / "md"
    campaign = Campaign.load(folder / "campaign.yaml")
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    for record in manifest["replicas"]:
        if record["chunks_done"]:
            xtc = folder / record["trajectory"]
            assert xtc.stat().st_size >= record["xtc_bytes"], xtc  # a running campaign may have appended more
            assert (folder / record["restart"]).exists()
    assert {p.name for p in campaign.proteins} == set(manifest["ns_done"])


def test_one_runner_at_a_time_and_status_leaves_a_running_campaign_alone(uninterrupted, tmp_path, capsys):
    folder = tmp_path / "locked"
    shutil.copytree(uninterrupted, folder)
    holder = CampaignRunner(Campaign.load(folder / "campaign.yaml"), "CPU")
    stray = folder / "chignolin" / "replica_00" / "chunk_0002.xtc.tmp"  # as a running chunk's file
    stray.write_bytes(b"frames being written")
    with pytest.raises(CampaignError, match=r"is being advanced by process \d+; stop it first"):
        CampaignRunner(Campaign.load(folder / "campaign.yaml"), "CPU")
    assert main([str(folder / "campaign.yaml"), "--status"]) == 0
    assert "chignolin: 0.008 of 0.008 ns" in capsys.readouterr().out
    assert stray.read_bytes() == b"frames being written"
    del holder  # the lock goes with the runner


def test_frames_missing_from_a_file_are_counted_and_split_the_replica(uninterrupted, tmp_path, capsys):
    """A replica whose XTC lost frames 3-5 (as a chunk's file deleted while it ran once did): the next runner
    counts what the file holds and where frames are missing, and the replica is read as two stretches."""
    folder = tmp_path / "gap"
    shutil.copytree(uninterrupted, folder)
    xtc = folder / "chignolin" / "replica_01" / "trajectory.xtc"
    topology = folder / "chignolin" / "heavy_atoms.pdb"
    full = mdtraj.load(str(xtc), top=str(topology))
    full[[0, 1, 2, 6, 7, 8, 9]].save_xtc(str(xtc))
    campaign = Campaign.load(folder / "campaign.yaml")
    manifest = CampaignRunner(campaign, "CPU").manifest
    assert "replica 1: 7 frames in its XTC, 10 counted; missing: [[1.2, 3]]" in capsys.readouterr().err
    record = manifest.records[("chignolin", 1)]
    assert (record.frames, record.gaps, record.ns_done) == (7, [[1.2, 3]], pytest.approx(0.0028))
    from openmm_equijump.md.campaign import campaign_trajectories
    stretches = campaign_trajectories(campaign, "chignolin", drop_burn_in=False)
    assert [t.n_frames for t in stretches] == [10, 3, 4]
    assert [t.replica for t in stretches] == [0, 1, 1]
    assert [t.n_frames for t in campaign_trajectories(campaign, "chignolin", False, replicas=[1])] == [3, 4]
    with pytest.raises(CampaignError, match=r"chignolin has replicas 0-1; no replica \[2\]"):
        campaign_trajectories(campaign, "chignolin", False, replicas=[1, 2])
    del manifest  # the runner holding the lock

    out = tmp_path / "exported"
    assert main([str(folder / "campaign.yaml"), "--export", "chignolin", str(out), "--keep-burn-in"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["heavy_atoms.pdb", "replica_00.xtc", "replica_01_0.xtc",
                                                     "replica_01_1.xtc"]
    second = mdtraj.load(str(out / "replica_01_1.xtc"), top=str(out / "heavy_atoms.pdb"))
    np.testing.assert_allclose(second.xyz, full.xyz[6:], atol=1e-3)  # XTC precision
    np.testing.assert_allclose(second.time, full.time[6:])

    capsys.readouterr()
    assert main([str(folder / "campaign.yaml"), "--export", "chignolin", str(out)]) == 2
    assert "already holds exported trajectories (replica_00.xtc, ...)" in capsys.readouterr().err
    # the burn-in is dropped by time: 3 ps here, inside which replica 1's gap falls (frames at 0.4 ps intervals)
    settings = yaml.safe_load((folder / "campaign.yaml").read_text())
    (folder / "campaign.yaml").write_text(yaml.safe_dump({**settings, "burn_in_ns": 0.003}))
    after = campaign_trajectories(Campaign.load(folder / "campaign.yaml"), "chignolin")
    assert [(t.replica, list(np.round(t.time, 3))) for t in after] == [(0, [3.2, 3.6, 4.0]), (1, [3.2, 3.6, 4.0])]
    # the raw file with its gap is refused by training and analysis, with or without a frame interval given
    from openmm_equijump.analysis.frames import AnalysisInputError, load_ensemble
    from openmm_equijump.training.data.trajectories import TrajectoryError, resolved_frame_interval_ps
    gapped = mdtraj.load(str(xtc), top=str(topology))
    with pytest.raises(TrajectoryError, match=r"3 frame\(s\) are missing in 1 gap\(s\) \(frames 0.4 ps apart; the "
                                              r"first gap from 1.2 ps to 2.8 ps\); split"):
        resolved_frame_interval_ps(xtc, gapped.time, 0.4)
    with pytest.raises(AnalysisInputError, match=r"reference trajectory .* 3 frame\(s\) are missing .*; split the file"):
        load_ensemble([xtc], topology, gapped.topology, 0.4, "reference")
