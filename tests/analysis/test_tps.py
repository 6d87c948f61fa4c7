"""Transition-path metrics (``analysis.tps``) on discrete trajectories whose answers are known: bridge
probabilities of a small chain, PCCA+ of two blocks of clusters, the least-flux pair, MD stretches; and the
Jensen-Shannon distance is scipy's."""
import itertools

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from openmm_equijump.analysis.divergence import jensen_shannon, js_distance, js_pair
from openmm_equijump.analysis.tica import TicaError
from openmm_equijump.analysis.tps import (MetastableModel, least_flux_pair, metastable_model, occupancy,
                                          path_probabilities, path_set_metrics, sample_bridges, transition_segments)

#: A chain 0 - 1 - 2: from 0 the only way to 2 is through 1.
CHAIN = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])


def chain_model() -> MetastableModel:
    stationary = np.array([1.0, 2.0, 2.0]) / 5.0  # detailed balance: 0.2 * 0.1 = 0.4 * 0.05, 0.4 * 0.05 = 0.4 * 0.05
    return MetastableModel(np.arange(3), CHAIN, stationary, 1)


def test_a_two_step_bridge_has_one_path_of_probability_one_and_any_other_path_is_invalid():
    bridges = sample_bridges(CHAIN, 0, 2, 2, 50, np.random.default_rng(0))
    assert (bridges == [0, 1, 2]).all()
    paths = np.array([[0, 1, 2], [0, 0, 2], [1, 1, 2], [0, 1, 1]])
    np.testing.assert_allclose(path_probabilities(paths, CHAIN, 0, 2), [1.0, 0.0, 0.0, 0.0])
    metrics = path_set_metrics("mixed", paths, chain_model(), 0, 2, occupancy(bridges, 3))
    assert metrics.valid_rate == 0.25 and metrics.mean_path_probability == 0.25
    assert metrics.valid_path_probability == 1.0
    np.testing.assert_allclose(metrics.occupancy, [4 / 12, 5 / 12, 3 / 12])
    assert metrics.js_distance == pytest.approx(jensenshannon(occupancy(bridges, 3), metrics.occupancy))


def test_bridge_probabilities_of_all_paths_sum_to_one_and_bridges_are_drawn_by_them():
    n_steps = 4
    paths = np.array([(0,) + middle + (2,) for middle in itertools.product(range(3), repeat=n_steps - 1)])
    probability = path_probabilities(paths, CHAIN, 0, 2)
    assert probability.sum() == pytest.approx(1.0)
    through = np.prod([CHAIN[a, b] for a, b in zip([0, 0, 0, 1], [0, 0, 1, 2])])  # 0 0 0 1 2, by hand
    assert probability[paths.tolist().index([0, 0, 0, 1, 2])] == pytest.approx(
        through / np.linalg.matrix_power(CHAIN, n_steps)[0, 2])
    bridges = sample_bridges(CHAIN, 0, 2, n_steps, 20000, np.random.default_rng(1))
    drawn = np.array([np.mean((bridges == p).all(axis=1)) for p in paths])
    assert np.abs(drawn - probability).max() < 0.015


def test_no_bridge_when_the_end_cannot_be_reached_in_time():
    assert sample_bridges(CHAIN, 0, 2, 1, 10, np.random.default_rng(0)) is None


def test_pcca_lumps_two_blocks_of_clusters_and_the_least_flux_pair_is_the_rare_exchange():
    rng = np.random.default_rng(0)
    blocks = [[0, 1, 2], [3, 4, 5]]
    frames, block = [], 0
    for _ in range(20000):  # fast mixing within a block, a switch of block every 500 frames on average
        block = 1 - block if rng.random() < 0.002 else block
        frames.append(rng.choice(blocks[block]))
    centres = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    model = metastable_model([np.array(frames)], centres, 2, 1)
    metastates = model.metastate_of_cluster
    assert len(set(metastates[:3])) == 1 and len(set(metastates[3:])) == 1 and metastates[0] != metastates[3]
    np.testing.assert_allclose(model.transition_matrix.sum(axis=1), 1.0)
    assert model.transition_matrix[0, 1] == pytest.approx(0.002, rel=0.5)
    three = MetastableModel(np.arange(3), np.array([[0.98, 0.02, 0.0], [0.01, 0.98, 0.01], [0.0, 0.02, 0.98]]),
                            np.array([0.25, 0.5, 0.25]), 1)
    assert least_flux_pair(three, 1e-4) == (0, 1)  # 0.25 * 0.02 = 0.005 each way; 0 - 2 never meet
    with pytest.raises(TicaError, match="no two metastates exchange a flux of at least 0.1"):
        least_flux_pair(three, 0.1)
    with pytest.raises(TicaError, match="7 metastates cannot be made of the 6 connected clusters"):
        metastable_model([np.array(frames)], centres, 7, 1)


def test_md_stretches_are_every_window_from_start_to_end_read_every_lag():
    d = np.array([0, 0, 1, 2, 2, 0, 1, 2, 0])
    assert transition_segments([d], 0, 2, 2, 1).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert transition_segments([d, d], 0, 2, 1, 2).tolist() == [[0, 2]] * 4  # frames 1 -> 3 and 5 -> 7
    assert transition_segments([d], 2, 0, 5, 1).tolist() == [[2, 2, 0, 1, 2, 0]]
    assert transition_segments([d], 2, 0, 6, 1).shape == (0, 7)  # none that long
    assert transition_segments([d[:4]], 0, 2, 6, 1).shape == (0, 7)  # nor in a trajectory shorter than the span


def test_the_js_distance_is_scipys_jensenshannon_and_printed_beside_the_divergence():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.3, 0.6])
    divergence = jensen_shannon(p, q)
    assert js_distance(divergence) == pytest.approx(jensenshannon(p, q))
    assert js_pair(divergence) == f"{divergence:.4f} / {jensenshannon(p, q):.3f}" and js_pair(None) == "-"
