"""Trajectories -> tensor clouds -> transition pairs: formats, frame intervals, the split, cluster sampling."""
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import torch

from openmm_equijump.training.data.clusters import cluster_weights
from openmm_equijump.training.data.pairs import (PairSampler, TransitionPairs, check_trajectories, lag_in_frames,
                                        split_by_trajectory)
from openmm_equijump.trajectory_files import frame_interval_ps as file_frame_interval_ps
from openmm_equijump.training.data.trajectories import TrajectoryError, load_protein, resolved_frame_interval_ps
from openmm_equijump.protein.topology import TopologyError

from helpers import FIXTURES, SHIPPED, structure_file

TRAIN_FIXTURES = FIXTURES / "train"
REFERENCE = SHIPPED / "reference"
SEEDS = (1, 2, 101)


@pytest.fixture(scope="module")
def md(shared_data) -> Path:
    return shared_data / "md"


@pytest.fixture(scope="module")
def chignolin():
    """The chignolin MD shipped as the model's reference (heavy atoms, 10 ps per frame)."""
    return load_protein(REFERENCE / "heavy_atoms.pdb", [REFERENCE / f"md_seed{s}.xtc" for s in SEEDS])


def test_dcd_header_gives_the_frame_interval(md):
    # 2500 steps of 4 fs per frame; mdtraj itself would report the frame index as time.
    for seed in SEEDS:
        assert file_frame_interval_ps(md / f"chignolin_obc2_350K_seed{seed}.dcd") == 10.0
    assert file_frame_interval_ps(TRAIN_FIXTURES / "chignolin_charmm.dcd") == 10.0


def test_amber_charmm_and_gromacs_files_give_the_same_clouds(md):
    chignolin = load_protein(md / "chignolin_amber14.pdb", [md / "chignolin_obc2_350K_seed2.dcd"])
    amber = chignolin.trajectories[0]  # seed 2, the source of both fixtures
    for topology, trajectory, tolerance in (("chignolin_charmm.psf", "chignolin_charmm.dcd", 1e-3),
                                            ("chignolin_gromacs.gro", "chignolin_gromacs.xtc", 0.02)):
        protein = load_protein(TRAIN_FIXTURES / topology, [TRAIN_FIXTURES / trajectory])
        loaded = protein.trajectories[0]
        assert loaded.frame_ps == 10.0
        assert torch.equal(protein.residue_types, chignolin.residue_types)
        assert torch.equal(protein.mask, chignolin.mask)
        # The GROMACS system holds 3 waters and 2 ions more: stripped before binding.
        assert torch.allclose(loaded.P, amber.P[:loaded.n_frames], atol=tolerance)
        assert torch.allclose(loaded.V, amber.V[:loaded.n_frames], atol=tolerance)


def test_netcdf_times_and_hdf5(tmp_path):
    psf = TRAIN_FIXTURES / "chignolin_charmm.psf"
    frames = mdtraj.load(str(TRAIN_FIXTURES / "chignolin_charmm.dcd"), top=str(psf))[:12]
    frames.time = 500.0 + 20.0 * np.arange(12)
    frames.save_netcdf(str(tmp_path / "amber.nc"))
    protein = load_protein(psf, [tmp_path / "amber.nc"])
    assert protein.trajectories[0].frame_ps == 20.0 and protein.trajectories[0].n_frames == 12
    try:
        frames.save_hdf5(str(tmp_path / "frames.h5"))
    except ImportError:  # mdtraj reads HDF5 through PyTables: without it, a clear refusal
        (tmp_path / "frames.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
        with pytest.raises(TrajectoryError, match=r"frames\.h5: .*PyTables .*pip install tables"):
            load_protein(psf, [tmp_path / "frames.h5"])
    else:
        assert load_protein(psf, [tmp_path / "frames.h5"]).trajectories[0].frame_ps == 20.0


def test_frame_interval_from_the_file_or_the_user(tmp_path):
    assert resolved_frame_interval_ps("x.xtc", np.array([1000.0, 1010.0, 1020.0]), None) == 10.0
    with pytest.raises(TrajectoryError, match=r"x\.xtc.*--frame-ps"):
        resolved_frame_interval_ps("x.xtc", np.zeros(5), None)
    with pytest.raises(TrajectoryError, match="--frame-ps"):
        resolved_frame_interval_ps("x.nc", np.array([0.0, 10.0, 25.0]), None)  # irregular
    with pytest.raises(TrajectoryError, match=r"1 frame\(s\) are missing"):  # a gap, even with an interval given
        resolved_frame_interval_ps("x.nc", np.array([0.0, 10.0, 30.0]), 10.0)
    assert resolved_frame_interval_ps("x.nc", np.zeros(5), 20.0) == 20.0
    with pytest.warns(UserWarning, match="the file says 10 ps"):
        assert resolved_frame_interval_ps("x.xtc", np.array([0.0, 10.0, 20.0]), 5.0) == 5.0

    # A DCD whose header has no time step: refused, unless the user gives the interval.
    data = bytearray((TRAIN_FIXTURES / "chignolin_charmm.dcd").read_bytes())
    data[44:48] = np.float32(0.0).tobytes()
    no_time = tmp_path / "no_time.dcd"
    no_time.write_bytes(bytes(data))
    psf = TRAIN_FIXTURES / "chignolin_charmm.psf"
    with pytest.raises(TrajectoryError, match=r"no_time\.dcd.*does not say how far apart"):
        load_protein(psf, [no_time])
    assert load_protein(psf, [no_time], frame_ps=10.0).trajectories[0].frame_ps == 10.0


def test_lag_must_be_a_multiple_of_the_frame_interval(chignolin):
    trajectory = chignolin.trajectories[0]
    assert lag_in_frames(trajectory, 100.0) == 10
    with pytest.raises(TrajectoryError, match=r"seed1\.xtc.*25 ps is not a whole multiple of .* 10 ps"):
        lag_in_frames(trajectory, 25.0)


def test_bad_inputs_are_refused_naming_the_file(md, tmp_path):
    psf, dcd = TRAIN_FIXTURES / "chignolin_charmm.psf", TRAIN_FIXTURES / "chignolin_charmm.dcd"
    with pytest.raises(TrajectoryError, match=r"seed2\.dcd has 166 atoms .*trpcage_amber14\.pdb has 284"):
        load_protein(structure_file("trpcage_amber14.pdb"), [md / "chignolin_obc2_350K_seed2.dcd"])

    frames = mdtraj.load(str(dcd), top=str(psf))
    frames.xyz[3, 7] = np.nan
    nan_file = tmp_path / "nan.dcd"
    frames.save_dcd(str(nan_file))
    assert file_frame_interval_ps(nan_file) is None  # mdtraj writes a placeholder time step, not a real one
    with pytest.raises(TrajectoryError, match=r"nan\.dcd: non-finite .* first at frame 3"):
        load_protein(psf, [nan_file], frame_ps=10.0)

    empty = tmp_path / "empty.xtc"
    empty.write_bytes(b"")
    with pytest.raises(TrajectoryError, match=r"empty\.xtc"):
        load_protein(psf, [empty])

    short = load_protein(psf, [dcd])  # 30 frames: 290 ps
    with pytest.raises(TrajectoryError, match=r"chignolin_charmm\.dcd: 30 frame\(s\) .* 300 ps apart \(at least 31"):
        check_trajectories([short], 300.0)

    torn = load_protein(psf, [dcd])
    torn.trajectories[0].V[4, 2, 5] += 30.0  # as if one atom were imaged into the next periodic box
    with pytest.raises(TrajectoryError, match=r"frame 4 .* residue 2 .* periodic box"):
        check_trajectories([torn], 100.0)

    pdb_text = (md / "chignolin_amber14.pdb").read_text().replace(" GLU A", " XYZ A")
    unknown = tmp_path / "unknown_residue.pdb"
    unknown.write_text(pdb_text)
    with pytest.raises(TopologyError, match=r"unknown_residue\.pdb.*XYZ"):
        load_protein(unknown, [md / "chignolin_obc2_350K_seed2.dcd"])


def test_split_is_by_whole_trajectory(chignolin):
    train, validation = split_by_trajectory([chignolin], 0.2, 100.0, seed=0)
    assert [s.trajectory for s in validation] == [1]  # 300 of 2772 frames: the only one that fits in 20%
    assert sorted(s.trajectory for s in train) == [0, 2]
    assert all((s.start, s.stop) == (0, chignolin.trajectories[s.trajectory].n_frames) for s in train + validation)


def test_single_trajectory_split_keeps_pairs_apart():
    protein = load_protein(REFERENCE / "heavy_atoms.pdb", [REFERENCE / "md_seed2.xtc"])
    train, validation = split_by_trajectory([protein], 0.2, 100.0, seed=0)
    assert (train[0].start, train[0].stop, validation[0].start, validation[0].stop) == (0, 240, 240, 300)
    train_pairs = TransitionPairs([protein], train, 100.0)
    assert int((train_pairs.frame + train_pairs.lag).max()) == 239  # no pair reaches into validation frames
    assert len(TransitionPairs([protein], validation, 100.0)) == 50


def test_pairs_are_lag_apart_and_padded_across_proteins(chignolin, tmp_path):
    structure = mdtraj.load(str(structure_file("a3d_amber14.pdb")))
    rng = np.random.default_rng(0)
    wiggled = structure.xyz + rng.normal(scale=0.01, size=(12,) + structure.xyz.shape[1:]).astype(np.float32)
    mdtraj.Trajectory(wiggled, structure.topology).save_dcd(str(tmp_path / "a3d.dcd"))
    alpha3d = load_protein(structure_file("a3d_amber14.pdb"), [tmp_path / "a3d.dcd"], frame_ps=10.0)
    proteins = [chignolin, alpha3d]
    segments, _ = split_by_trajectory(proteins, 0.0, 100.0, seed=0)
    pairs = TransitionPairs(proteins, segments, 100.0)
    assert len(pairs) == (600 - 10) + (300 - 10) + (1872 - 10) + (12 - 10)

    first_alpha3d = int(pairs.frames_of_protein(1)[0])
    batch = pairs.batch(torch.tensor([5, first_alpha3d]))
    assert batch.P0.shape == (2, 73, 3) and batch.V1.shape == (2, 73, 13, 3)
    assert batch.residue_mask.sum(dim=1).tolist() == [10, 73]
    assert not batch.mask[0, 10:].any() and (batch.P0[0, 10:] == 0).all()
    source = chignolin.trajectories[0]
    centre = source.P[5].mean(dim=0)
    assert torch.allclose(batch.P1[0, :10], source.P[15] - centre)
    assert torch.equal(batch.V0[0, :10], source.V[5])
    assert torch.allclose(batch.P0[0, :10].mean(dim=0), torch.zeros(3), atol=1e-5)

    # training's start noise: only the real coordinates of X^t move, the C-alpha centroid stays, X^(t+lag) too
    noisy = batch.with_noisy_start(0.2, torch.Generator().manual_seed(0))
    real = batch.mask & batch.residue_mask.unsqueeze(-1)
    assert torch.equal(noisy.P1, batch.P1) and torch.equal(noisy.V1, batch.V1)
    assert torch.equal(noisy.V0[~real], batch.V0[~real]) and torch.equal(noisy.P0[0, 10:], batch.P0[0, 10:])
    assert abs(float((noisy.V0 - batch.V0)[real].std()) - 0.2) < 0.02
    torch.testing.assert_close(noisy.P0[0, :10].mean(0), batch.P0[0, :10].mean(0), atol=1e-5, rtol=0)


def test_windows_carry_the_frames_before_the_start_newest_first(chignolin):
    segments, _ = split_by_trajectory([chignolin], 0.0, 20.0, seed=0)
    pairs = TransitionPairs([chignolin], segments, 20.0, history=2)
    assert len(pairs) == (600 - 6) + (300 - 6) + (1872 - 6)  # a window spans 3 lags of 2 frames
    batch = pairs.batch(torch.tensor([0, 7]))
    assert batch.P_history.shape == (2, 2, 10, 3) and batch.V_history.shape == (2, 2, 10, 13, 3)
    source = chignolin.trajectories[0]
    t = 7 + 4
    centre = source.P[t].mean(dim=0)
    torch.testing.assert_close(batch.P0[1], source.P[t] - centre)
    torch.testing.assert_close(batch.P_history[1, 0], source.P[t - 2] - centre)
    torch.testing.assert_close(batch.P_history[1, 1], source.P[t - 4] - centre)
    assert torch.equal(batch.V_history[1, 1], source.V[t - 4])
    assert TransitionPairs([chignolin], segments, 20.0).batch(torch.tensor([0])).P_history is None


def test_cluster_sampling_draws_clusters_uniformly(chignolin):
    segments, _ = split_by_trajectory([chignolin], 0.0, 100.0, seed=0)
    pairs = TransitionPairs([chignolin], segments, 100.0)
    weights = cluster_weights(pairs, n_clusters=20, n_tics=2, tica_lag_ps=100.0, seed=0)
    assert weights.shape == (len(pairs),) and torch.isclose(weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    # Within a cluster all pairs weigh the same, and each cluster weighs 1/20: rare states are boosted.
    levels = torch.unique(weights)
    cluster_sizes = torch.round(1.0 / (weights * 20)).long()
    assert torch.allclose(weights * cluster_sizes * 20, torch.ones_like(weights))
    assert len(levels) > 1 and weights.max() / weights.min() > 5
    again = cluster_weights(pairs, n_clusters=20, n_tics=2, tica_lag_ps=100.0, seed=0)
    assert torch.equal(weights, again)

    sampler = PairSampler(len(pairs), weights)
    draws = sampler.draw(4000, torch.Generator().manual_seed(0))
    rare = weights[draws] > weights.median()
    assert rare.float().mean() > 0.5  # uniform sampling would draw these about half the time or less


def test_times_that_are_frame_indices_are_not_taken_as_picoseconds(tmp_path):
    """mdtraj converting a DCD to XTC writes the frame index as time: the interval must then be given."""
    import mdtraj as _md
    from openmm_equijump.trajectory_files import interval_from_times
    from helpers import SHIPPED
    traj = _md.load(str(SHIPPED / "reference" / "md_seed1.xtc"), top=str(SHIPPED / "reference" / "heavy_atoms.pdb"))[:5]
    traj.time = np.arange(5, dtype=float)
    traj.save_xtc(str(tmp_path / "converted.xtc"))
    assert interval_from_times(_md.load(str(tmp_path / "converted.xtc"), top=traj.topology).time) is None
    assert interval_from_times(np.array([10.0, 20.0, 30.0])) == 10.0


@pytest.mark.parametrize("times, expected", [
    (np.arange(1, 50001) * 0.2, None),                                   # 10 ns at 0.2 ps, as float32 XTC times
    (np.delete(np.arange(1, 50001) * 0.2, 30000), "1 frame(s) are missing in 1 gap(s) (frames 0.2 ps apart; "
                                                  "the first gap from 6000 ps to 6000.4 ps)"),
    (np.array([0, 10, 20, 40, 60, 80.0]), "3 frame(s) are missing in 3 gap(s)"),
    (np.r_[np.arange(10), np.arange(10)] * 10.0, None),                  # a time that restarts: not missing frames
    (np.array([0, 10, 25, 30, 47.0]), None),                             # irregular sampling
    (np.arange(100.0), None)])                                           # frame indices
def test_missing_frames_are_found_in_float32_times_and_nothing_else(times, expected):
    from openmm_equijump.trajectory_files import missing_frames
    found = missing_frames(np.float32(times))
    assert found == expected if expected is None else found.startswith(expected)
