"""C-alpha TICA and k-means, the one home of both (deeptime): the analysis fits them on the reference MD,
training's cluster sampling on the training frames.

Features are the distances of all C-alpha pairs i < j (any length unit: the TICs are kinetic-map scaled).
"""
from __future__ import annotations

from typing import Sequence, Union

import mdtraj as md
import numpy as np
from deeptime.clustering import KMeans, KMeansModel
from deeptime.decomposition import TICA

from ..errors import EquiJumpError


class TicaError(EquiJumpError, ValueError):
    """Too little data for TICA or k-means at the requested lag or cluster count."""


def calpha_distance_pairs(n_calphas: int) -> np.ndarray:
    """(n_pairs, 2) all C-alpha index pairs i < j."""
    return np.stack(np.triu_indices(n_calphas, k=1), axis=1).astype(int)


def calpha_distances(calphas: md.Trajectory) -> np.ndarray:
    """(n_frames, n_pairs) C-alpha pairwise distances in nm of an mdtraj trajectory of C-alphas."""
    return md.compute_distances(calphas, calpha_distance_pairs(calphas.n_atoms))


def calpha_distances_of_positions(positions: np.ndarray) -> np.ndarray:
    """(T, N, 3) C-alpha positions -> (T, N(N-1)/2) distances of all pairs i < j, float64, same unit."""
    i, j = np.triu_indices(positions.shape[1], k=1)
    return np.linalg.norm(np.asarray(positions[:, i], np.float64) - np.asarray(positions[:, j], np.float64), axis=-1)


def fit_tica(features: Sequence[np.ndarray], lag_frames: Union[int, Sequence[int]], dim: int):
    """TICA (kinetic-map scaling) fitted on feature trajectories, each at its lag (one int: all the same).

    Trajectories no longer than their lag contribute nothing; it is a ``TicaError`` if all are.
    """
    lags = [lag_frames] * len(features) if isinstance(lag_frames, (int, np.integer)) else list(lag_frames)
    estimator = TICA(dim=dim, lagtime=lags[0] if len(set(lags)) == 1 else None)  # one lag: the model knows it
    usable = 0
    for x, lag in zip(features, lags):
        x = np.asarray(x, dtype=np.float64)
        if len(x) > lag:
            estimator.partial_fit((x[:-lag], x[lag:]))
            usable += 1
    if not usable:
        raise TicaError(f"every trajectory is shorter than the TICA lag ({max(lags)} frames); choose a shorter "
                        "TICA lag")
    return estimator.fetch_model()


def fit_kmeans(data: np.ndarray, n_clusters: int, seed: int, max_iter: int = 200) -> KMeansModel:
    """k-means (k-means++ start, fixed seed, one thread: the same clusters on every machine) on (n, d) data."""
    data = np.asarray(data, dtype=np.float64)
    if len(data) < n_clusters:
        raise TicaError(f"{len(data)} frames cannot make {n_clusters} clusters; lower the number of clusters")
    return KMeans(n_clusters=n_clusters, fixed_seed=seed, init_strategy="kmeans++", n_jobs=1,
                  max_iter=max_iter).fit(data).fetch_model()
