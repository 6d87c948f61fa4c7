"""compare_dynamics on the shared chignolin MD: zero for identical data, small for another seed (equal to a
hand computation), large for broken structures, and MSM reweighting that undoes a biased start."""
import mdtraj as md
import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from openmm_equijump.analysis import (AnalysisSettings, Ensemble, compare_dynamics,
                                      ensemble_from_trajectories, jensen_shannon, load_ensemble)
from openmm_equijump.analysis.chemistry import bond_graph
from openmm_equijump.analysis.divergence import pooled_edges
from openmm_equijump.analysis.observables import (calpha_rmsd_A, fraction_native_contacts, gdt_ts,
                                                  native_contact_pairs)

from helpers import structure_file

STRUCTURE = ("tic1", "tic2", "rmsd", "gdt_ts", "rg", "fnc")
FAST = AnalysisSettings(noise_floor=False, chemistry_frames=600)


@pytest.fixture(scope="module")
def native():
    return md.load(str(structure_file("CLN025.pdb")))


def _load(md_dir, topology, *seeds, what="generated"):
    return load_ensemble([md_dir / f"chignolin_obc2_350K_seed{s}.dcd" for s in seeds],
                         md_dir / "chignolin_amber14.pdb", topology, what=what)


@pytest.fixture(scope="module")
def seed1(md_dir, topology):
    return _load(md_dir, topology, 1, what="reference")


@pytest.fixture(scope="module")
def seed2(md_dir, topology):
    return _load(md_dir, topology, 2)


@pytest.fixture(scope="module")
def seed1_vs_seed2(seed1, seed2, native):
    return compare_dynamics(seed1, seed2, native, FAST)


def test_jensen_shannon_natural_log():
    rng = np.random.default_rng(1)
    p, q = rng.random(20), rng.random(20)
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q) ** 2)
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(np.log(2))


def test_discrete_values_get_one_bin_each():
    edges = pooled_edges(np.array([0.0, 0.25]), np.array([0.5, 1.0]), 30, step=0.25)
    np.testing.assert_allclose(edges, [-0.125, 0.125, 0.375, 0.625, 0.875, 1.125])
    coarse = pooled_edges(np.arange(0, 100.0), np.arange(0, 10.0), 30, step=1.0)
    assert len(coarse) - 1 <= 30 and np.allclose(np.diff(coarse), 4.0)


def test_observables_of_the_native_structure_and_of_a_real_frame(md_dir, native):
    calpha = native.atom_slice(native.topology.select("protein and name CA"))
    start = md.load(str(md_dir / "chignolin_amber14.pdb"))  # built from the same crystal structure
    start_calpha = start.atom_slice(start.topology.select("name CA"))
    assert calpha_rmsd_A(start_calpha, calpha)[0] < 0.01
    assert gdt_ts(start_calpha, calpha)[0] == 1.0
    assert fraction_native_contacts(start_calpha, native_contact_pairs(calpha))[0] == 1.0
    frames = md.load(str(md_dir / "chignolin_obc2_350K_seed1.dcd"), top=start.topology)[[0, 300, 599]]
    frames_calpha = frames.atom_slice(frames.topology.select("name CA"))
    superposed = md.Trajectory(frames_calpha.xyz.copy(), frames_calpha.topology).superpose(calpha)
    deviation = np.linalg.norm(superposed.xyz - calpha.xyz, axis=-1) * 10
    np.testing.assert_allclose(np.sqrt((deviation ** 2).mean(axis=1)), calpha_rmsd_A(frames_calpha, calpha), rtol=1e-4)
    expected_gdt = np.mean([(deviation <= d).mean(axis=1) for d in (1, 2, 4, 8)], axis=0)
    np.testing.assert_allclose(gdt_ts(frames_calpha, calpha), expected_gdt)


def test_reference_against_itself_is_zero(seed1, native):
    metrics = compare_dynamics(seed1, seed1, native, FAST)
    for reweighted in (True, False):
        assert all(v == 0.0 for v in metrics.comparison.divergences(reweighted).values())


def test_defaults_fit_the_data(seed1_vs_seed2):
    resolved = seed1_vs_seed2.resolved
    # 600 and 300 frames at 10 ps: TICA lag 600/20 frames, 300/30 clusters, MSM lag 3000 ps / 10
    assert (resolved.tica_lag_ps, resolved.tica_lag_frames) == (300.0, 30)
    assert resolved.n_clusters == 10
    assert (resolved.msm_lag_ps, resolved.msm_lag_generated_frames) == (300.0, 30)
    assert set(resolved.chosen_from_data) == {"tica_lag_ps", "n_clusters", "msm_lag_ps"}


def test_paper_preset_refuses_a_few_ns_of_data(seed1, seed2, native):
    with pytest.raises(ValueError, match="msm_lag_ps"):
        compare_dynamics(seed1, seed2, native, AnalysisSettings.paper(noise_floor=False))


def test_seed_against_seed_matches_a_hand_computation(seed1_vs_seed2, seed1, seed2, native):
    comparison = seed1_vs_seed2.comparison
    native_ca = native.atom_slice(native.topology.select("protein and name CA"))

    def rmsd(ensemble):
        calphas = ensemble.trajectories[0].atom_slice(ensemble.trajectories[0].topology.select("name CA"))
        return md.rmsd(calphas, native_ca) * 10

    def rg(ensemble):
        trajectory = ensemble.trajectories[0]
        return md.compute_rg(trajectory, masses=np.array([a.element.mass for a in trajectory.topology.atoms])) * 10

    for name, observable in (("rmsd", rmsd), ("rg", rg)):
        a, b = observable(seed1), observable(seed2)
        edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 31)
        expected = jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0]) ** 2
        assert comparison.observables[name].js_raw == pytest.approx(expected, rel=1e-6)
        assert comparison.observables[name].lo == pytest.approx(edges[0], rel=1e-5)
    # reweighted: the same bins, frame weights pi[cluster] / frames in cluster
    reference, generated = seed1_vs_seed2.reference, seed1_vs_seed2.generated
    for observed in (reference, generated):
        per_cluster = np.bincount(np.concatenate(observed.dtrajs), weights=observed.weights,
                                  minlength=len(observed.msm.stationary))
        np.testing.assert_allclose(per_cluster, observed.msm.stationary, atol=1e-12)
    tic1 = comparison.observables["tic1"]
    p = np.histogram(reference.pooled("tic1"), tic1.edges, weights=reference.weights)[0]
    q = np.histogram(generated.pooled("tic1"), tic1.edges, weights=generated.weights)[0]
    assert tic1.js_reweighted == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9)
    # a few ns per seed are not converged (the noise floor of seed1's halves reaches 0.5 on TIC2),
    # so "small" means well below the frozen-structure values asserted below
    for name, value in comparison.divergences(True).items():
        assert 0 < value < (0.2 if name in STRUCTURE else 0.01), name


def test_broken_structures_diverge_more_than_another_seed(seed1_vs_seed2, seed1, seed2, md_dir, native):
    trajectory = seed2.trajectories[0]
    backbone = trajectory.topology.select("name N CA C O")
    displaced = trajectory.xyz.copy()
    side_chain = np.setdiff1d(np.arange(trajectory.n_atoms), backbone)
    displaced[:, side_chain] += np.random.default_rng(0).normal(0, 0.03, (trajectory.n_frames, len(side_chain), 3))
    shaken = Ensemble([md.Trajectory(displaced, trajectory.topology)], seed2.frame_ps, ["side chains displaced"])
    frozen_native = md.load(str(md_dir / "chignolin_amber14.pdb"))
    frozen = ensemble_from_trajectories([md.join([frozen_native] * 300)], seed1.trajectories[0].topology, 10.0)
    good = seed1_vs_seed2.comparison.divergences(True)
    bad_chemistry = compare_dynamics(seed1, shaken, native, FAST).comparison.divergences(True)
    bad_structure = compare_dynamics(seed1, frozen, native, FAST).comparison.divergences(True)
    for name in ("bond_length", "bond_angle", "clashes"):
        assert bad_chemistry[name] > 10 * good[name], name
    for name in STRUCTURE:
        assert bad_structure[name] > 3 * good[name], name
        assert bad_structure[name] > 0.3, name


def test_msm_reweighting_undoes_a_biased_start(md_dir, topology, native):
    """1-ns pieces of the reference that all start folded (C-alpha RMSD < 2 A) over-represent the
    folded state; their MSM's stationary distribution brings them back towards the reference."""
    reference = _load(md_dir, topology, 101, 1, 2, what="reference")
    pieces = []
    for trajectory in reference.trajectories:
        calphas = trajectory.atom_slice(trajectory.topology.select("name CA"))
        rmsd = md.rmsd(calphas, native.atom_slice(native.topology.select("protein and name CA"))) * 10
        pieces += [trajectory[s:s + 100] for s in range(0, trajectory.n_frames - 100, 20) if rmsd[s] < 2.0]
    biased = Ensemble(pieces, reference.frame_ps, [f"piece {i}" for i in range(len(pieces))])
    comparison = compare_dynamics(reference, biased, native, FAST).comparison
    for name in ("rmsd", "gdt_ts", "fnc"):
        observable = comparison.observables[name]
        assert observable.js_reweighted < 0.6 * observable.js_raw, name
    for name in ("tic1", "rmsd", "gdt_ts", "fnc"):
        observable = comparison.observables[name]
        assert (abs(observable.mean_generated_reweighted - observable.mean_reference_reweighted)
                < 0.6 * abs(observable.mean_generated - observable.mean_reference_reweighted)), name


def test_replicas_of_different_lengths_without_hydrogens(seed1, md_dir, topology, native):
    full = md.load(str(md_dir / "chignolin_obc2_350K_seed2.dcd"), top=topology)
    heavy = full.atom_slice(topology.select("not element H"))
    replicas = [heavy[:120], heavy[120:300], md.load(str(md_dir / "chignolin_obc2_350K_seed1.dcd"),
                                                    top=topology)[::2]]
    generated = ensemble_from_trajectories(replicas, seed1.trajectories[0].topology, 10.0)
    assert generated.lengths == [120, 180, 300]
    metrics = compare_dynamics(seed1, generated, native, FAST)
    assert metrics.comparison.generated_frames == 600
    assert metrics.resolved.msm_lag_ps == 120.0  # a tenth of the shortest replica
    assert [len(w) for w in metrics.generated.msm.weights] == [120, 180, 300]
    assert all(np.isfinite(v) for v in metrics.comparison.divergences(True).values())


def test_noise_floor_from_independent_runs(md_dir, topology, native, seed2):
    reference = _load(md_dir, topology, 1, 2, 101, what="reference")
    metrics = compare_dynamics(reference, seed2, native, AnalysisSettings(chemistry_frames=600))
    split = metrics.noise_floor_split
    # shaped like the generated set (one run of 3 ns): the longest run cut to 3 ns against the other two, whole
    assert split["how"].startswith("1 independent reference run(s) cut to 3 ns against the other 2")
    assert (split["frames_a"], split["frames_b"]) == (300, 900)
    assert metrics.noise_floor.observables["rmsd"].js_reweighted > 0
    assert set(metrics.to_dict()["noise_floor"]["divergences_reweighted"]) == set(
        metrics.comparison.divergences(True))


def test_bond_graph_of_a_topology_without_bonds_uses_standard_bonds(seed1):
    topology = seed1.trajectories[0].topology
    bare = md.Topology()  # built atom by atom, as a user's code might: no connectivity
    chain = bare.add_chain()
    for residue in topology.residues:
        new = bare.add_residue(residue.name, chain, residue.resSeq)
        for atom in residue.atoms:
            bare.add_atom(atom.name, atom.element, new)
    assert bare.n_bonds == 0
    with_bonds, rebuilt = bond_graph(topology, 0.4), bond_graph(bare, 0.4)
    assert len(with_bonds.bonds) == 98 and len(with_bonds.angles) == 136
    assert {tuple(sorted(b)) for b in rebuilt.bonds} == {tuple(sorted(b)) for b in with_bonds.bonds}
    np.testing.assert_array_equal(rebuilt.clash_pairs, with_bonds.clash_pairs)


def test_paper_preset_runs_when_the_data_is_long_enough(md_dir, topology, native, seed2):
    """Declared 1 ns apart, the 2772 reference frames span 2.8 us: the paper's settings fit, as given."""
    reference = _load(md_dir, topology, 101, 1, 2, what="reference")
    settings = AnalysisSettings.paper(reference_frame_ps=1000.0, generated_frame_ps=1000.0,
                                      noise_floor=False, chemistry_frames=300)
    metrics = compare_dynamics(reference, seed2, native, settings)
    resolved = metrics.resolved
    assert resolved.chosen_from_data == []
    assert (resolved.tica_lag_frames, resolved.n_clusters, resolved.msm_lag_generated_frames) == (2, 100, 45)
    assert metrics.to_dict()["settings"]["msm_lag_ps"] == 45000.0


def test_stride_in_ps_keeps_one_frame_per_stride(seed1, seed2, native):
    metrics = compare_dynamics(seed1, seed2, native, AnalysisSettings(stride_ps=100.0, noise_floor=False,
                                                                      chemistry_frames=60))
    resolved = metrics.resolved
    assert (metrics.comparison.reference_frames, metrics.comparison.generated_frames) == (60, 30)
    assert (resolved.reference_frame_ps, resolved.generated_frame_ps) == (100.0, 100.0)
    assert (resolved.tica_lag_ps, resolved.msm_lag_ps, resolved.msm_lag_generated_frames) == (300.0, 300.0, 3)
    with pytest.raises(ValueError, match="stride 25 ps is not a positive multiple"):
        compare_dynamics(seed1, seed2, native, AnalysisSettings(stride_ps=25.0, noise_floor=False))


def test_a_generated_burn_in_leaves_out_the_start_of_every_generated_trajectory(seed1, seed2, native):
    settings = AnalysisSettings(stride_ps=100.0, generated_burn_in_ps=1000.0, noise_floor=False, chemistry_frames=60)
    metrics = compare_dynamics(seed1, seed2, native, settings)
    assert (metrics.comparison.reference_frames, metrics.comparison.generated_frames) == (60, 20)  # 3 ns - 1 ns
    with pytest.raises(ValueError, match="generated burn-in of 3000 ps leaves nothing of the shortest generated"):
        compare_dynamics(seed1, seed2, native, AnalysisSettings(generated_burn_in_ps=3000.0, noise_floor=False))
    with pytest.raises(ValueError, match="generated burn-in 15 ps is not a positive multiple"):
        compare_dynamics(seed1, seed2, native, AnalysisSettings(generated_burn_in_ps=15.0, noise_floor=False))
