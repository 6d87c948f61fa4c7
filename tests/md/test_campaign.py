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
