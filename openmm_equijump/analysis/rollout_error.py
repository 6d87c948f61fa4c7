"""Rollout error as DiffMD reports it: ARMSE, the aligned RMSE of an n-step rollout against the reference
continuation from the same start, and the two trivial rollouts it is judged beside.

For a rollout x~(1..n) from the reference frame x(0), and the reference continuation x(1..n):
    ARMSE_n = sqrt( (1/n) sum_(i=1..n) RMSD(x~(i), x(i))^2 ),
RMSD after the optimal superposition (Kabsch: rotation and translation) of each frame onto its reference, over
the atoms given (the bench uses heavy atoms: what the models predict). The paper writes the sum of squared
norms without saying over what it averages; the per-atom mean makes ARMSE an RMSD, comparable between molecules.
Arrays only (any length unit in, the same out); nothing of the model, the runtime or training.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def aligned_msd(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean squared deviation per atom after superposing each predicted frame onto its reference frame.
    predicted, reference (..., n_atoms, 3) -> (...)."""
    P = predicted - predicted.mean(axis=-2, keepdims=True)
    Q = reference - reference.mean(axis=-2, keepdims=True)
    U, singular, Vt = np.linalg.svd(np.swapaxes(P, -1, -2) @ Q)
    # a proper rotation: flip the smallest singular value where the best orthogonal fit is a reflection
    sign = np.sign(np.linalg.det(U @ Vt))
    singular[..., -1] *= sign
    n_atoms = P.shape[-2]
    msd = ((P ** 2).sum((-1, -2)) + (Q ** 2).sum((-1, -2)) - 2.0 * singular.sum(-1)) / n_atoms
    return np.maximum(msd, 0.0)


def armse(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """ARMSE of rollouts: predicted, reference (starts, n, n_atoms, 3), frame i of both the i-th step after the
    start -> (starts,), in the unit of the input."""
    if predicted.shape != reference.shape or predicted.ndim != 4:
        raise ValueError(f"armse: predicted {predicted.shape} and reference {reference.shape} must both be "
                         "(starts, n, n_atoms, 3)")
    return np.sqrt(aligned_msd(predicted, reference).mean(axis=1))


def armse_table(predicted: np.ndarray, reference: np.ndarray, horizons: Sequence[int]) -> Dict[int, tuple]:
    """{n: (mean ARMSE_n over the starts, its standard error)} for each horizon n (the first n steps of
    rollouts (starts, >= max n, n_atoms, 3))."""
    table = {}
    for n in horizons:
        if n > predicted.shape[1]:
            raise ValueError(f"armse_table: horizon {n} is longer than the rollouts ({predicted.shape[1]} steps)")
        values = armse(predicted[:, :n], reference[:, :n])
        table[n] = (float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1
                    else float("nan"))
    return table


def copy_last_rollout(start: np.ndarray, n: int) -> np.ndarray:
    """The rollout that repeats the start frame: start (starts, n_atoms, 3) -> (starts, n, n_atoms, 3)."""
    return np.repeat(start[:, None], n, axis=1)


def constant_velocity_rollout(previous: np.ndarray, start: np.ndarray, n: int) -> np.ndarray:
    """Linear extrapolation x(i) = x(0) + i (x(0) - x(-1)) from the frame before the start and the start
    (starts, n_atoms, 3) -> (starts, n, n_atoms, 3)."""
    steps = np.arange(1, n + 1, dtype=start.dtype)[None, :, None, None]
    return start[:, None] + steps * (start - previous)[:, None]
