"""ARMSE of rollouts (DiffMD's metric) and its two trivial rollouts."""
import numpy as np
import pytest

from openmm_equijump.analysis.rollout_error import (aligned_msd, armse, armse_table, constant_velocity_rollout,
                                                    copy_last_rollout)


def rotation(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_the_aligned_msd_ignores_rigid_motions_but_not_reflections():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    moved = x @ rotation(rng).T + np.array([3.0, -1.0, 2.0])
    assert aligned_msd(moved, x) == pytest.approx(0.0, abs=1e-12)
    assert aligned_msd(x * np.array([1, 1, -1]), x) > 0.1  # a mirror image is not a rotation
    noisy = x + 0.1 * rng.normal(size=x.shape)
    direct = ((noisy - noisy.mean(0)) - (x - x.mean(0))) ** 2
    assert aligned_msd(noisy, x) <= direct.sum(-1).mean() + 1e-12


def test_armse_is_the_root_mean_square_over_the_steps():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(2, 3, 10, 3))
    predicted = truth.copy()
    predicted[:, 1] += rng.normal(size=(2, 10, 3))
    expected = np.sqrt(aligned_msd(predicted, truth).mean(1))
    np.testing.assert_allclose(armse(predicted, truth), expected)
    assert armse(truth, truth) == pytest.approx(0.0, abs=1e-7)
    table = armse_table(predicted, truth, [1, 3])
    assert table[1][0] == pytest.approx(0.0, abs=1e-7) and table[3][0] > 0
    with pytest.raises(ValueError, match="horizon 4"):
        armse_table(predicted, truth, [4])


def test_copy_and_constant_velocity_rollouts():
    previous, start = np.zeros((1, 2, 3)), np.ones((1, 2, 3))
    np.testing.assert_array_equal(copy_last_rollout(start, 3)[0, 2], start[0])
    np.testing.assert_array_equal(constant_velocity_rollout(previous, start, 3)[0, :, 0, 0], [2.0, 3.0, 4.0])
