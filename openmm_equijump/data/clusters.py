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
from deeptime.clustering import KMeans
from deeptime.decomposition import TICA

from .pairs import TransitionPairs, lag_in_frames


def calpha_distances(P: torch.Tensor) -> np.ndarray:
    """(T, N, 3) C-alpha positions -> (T, N(N-1)/2) distances of all residue pairs, float64."""
    i, j = np.triu_indices(P.shape[1], k=1)
    return (P[:, i] - P[:, j]).norm(dim=-1).double().numpy()


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
        features = {s: calpha_distances(protein.trajectories[s.trajectory].P[s.start:s.stop]) for s in segments}
        tica = TICA(dim=n_tics)
        for segment, x in features.items():
            tau = lag_in_frames(protein.trajectories[segment.trajectory], tica_lag_ps)
            if len(x) > tau:
                tica.partial_fit((x[:-tau], x[tau:]))
        if tica.fetch_model() is None:
            raise ValueError(f"protein {protein.name}: every training trajectory is shorter than the TICA lag "
                             f"of {tica_lag_ps:g} ps; lower tica_lag_ps or turn cluster sampling off")
        projection = tica.fetch_model()
        # Project the start frame of every pair of this protein, in the order of ``members``.
        tics = np.empty((members.numel(), n_tics))
        trajectory_of, frame_of = pairs.trajectory[members].numpy(), pairs.frame[members].numpy()
        for segment, x in features.items():
            here = np.flatnonzero(trajectory_of == segment.trajectory)
            here = here[(frame_of[here] >= segment.start) & (frame_of[here] < segment.stop)]
            tics[here] = projection.transform(x[frame_of[here] - segment.start])[:, :n_tics]
        k = min(n_clusters, len(tics))
        kmeans = KMeans(n_clusters=k, fixed_seed=seed, n_jobs=1, max_iter=100).fit(tics).fetch_model()
        labels = kmeans.transform(tics)
        labels_per_protein.append((members, labels))
    n_occupied = sum(len(np.unique(labels)) for _, labels in labels_per_protein)
    for members, labels in labels_per_protein:
        size = np.bincount(labels)[labels]
        weights[members] = torch.from_numpy(1.0 / (size * n_occupied))
    return weights

