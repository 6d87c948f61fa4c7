"""Cluster-enhanced sampling of training pairs (EquiJump paper, appendix A.4).

Per protein: TICA (deeptime) on the C-alpha pair distances of the training frames, k-means on the first
TICs, then each training step draws a cluster uniformly (over the clusters of all proteins) and a pair
whose start frame lies in it. Rare, high free-energy states are then seen as often as the basins; the
target distribution rho(X^{t+lag} | X^t) is unchanged because each pair keeps its own end point.
Paper settings: 2 TICs, 200 clusters per protein; the TICA lag (not given there) defaults to the pair lag.
"""
from __future__ import annotations

import numpy as np
import torch

from ...analysis.tica import TicaError, calpha_distances_of_positions, fit_kmeans, fit_tica
from ...errors import ConfigError
from .pairs import TransitionPairs, lag_in_frames


def cluster_weights(pairs: TransitionPairs, *, n_clusters: int = 200, n_tics: int = 2,
                    tica_lag_ps: float, seed: int = 0) -> torch.Tensor:
    """Sampling weight of every pair of ``pairs`` (sums to 1): uniform over clusters, then within one."""
    weights = torch.zeros(len(pairs), dtype=torch.float64)
    labels_per_protein = []
    for p, protein in enumerate(pairs.proteins):
        members = pairs.frames_of_protein(p)
        if members.numel() == 0:
            continue
        segments = [s for s in pairs.segments if s.protein == p]
        features = {s: calpha_distances_of_positions(protein.trajectories[s.trajectory].P[s.start:s.stop].numpy())
                    for s in segments}
        lags = [lag_in_frames(protein.trajectories[s.trajectory], tica_lag_ps) for s in features]
        try:
            projection = fit_tica(list(features.values()), lags, n_tics)
        except TicaError as error:
            raise ConfigError(f"protein {protein.name}: {error} (tica_lag_ps {tica_lag_ps:g}); lower tica_lag_ps "
                              "or turn cluster sampling off") from error
        # Project the start frame of every pair of this protein, in the order of ``members``.
        tics = np.empty((members.numel(), n_tics))
        trajectory_of, frame_of = pairs.trajectory[members].numpy(), pairs.frame[members].numpy()
        for segment, x in features.items():
            here = np.flatnonzero(trajectory_of == segment.trajectory)
            here = here[(frame_of[here] >= segment.start) & (frame_of[here] < segment.stop)]
            tics[here] = projection.transform(x[frame_of[here] - segment.start])[:, :n_tics]
        k = min(n_clusters, len(tics))
        kmeans = fit_kmeans(tics, k, seed, max_iter=100)
        labels = kmeans.transform(tics)
        labels_per_protein.append((members, labels))
    n_occupied = sum(len(np.unique(labels)) for _, labels in labels_per_protein)
    for members, labels in labels_per_protein:
        size = np.bincount(labels)[labels]
        weights[members] = torch.from_numpy(1.0 / (size * n_occupied))
    return weights

