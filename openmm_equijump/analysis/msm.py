"""Cluster TIC space (k-means, fitted on the reference) and reweight frames by an MSM (deeptime).

A run started from a biased set of states over-represents them. A reversible maximum-likelihood MSM
estimated on the run's own discrete trajectories gives its stationary distribution pi over clusters;
each frame in cluster s gets weight pi[s] / (number of the run's frames in s), so the weighted
histogram of any observable estimates its long-time (equilibrium) distribution. Frames in clusters
outside the connected set that holds most transition counts get weight 0 (reported as ``excluded_fraction``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from deeptime.clustering import KMeansModel
from deeptime.markov import TransitionCountEstimator
from deeptime.markov.msm import MaximumLikelihoodMSM

from .tica import TicaError, fit_kmeans


def fit_clusters(tics: Sequence[np.ndarray], n_clusters: int, seed: int) -> KMeansModel:
    """k-means on pooled reference TIC trajectories (n_frames, n_tics) (``tica.fit_kmeans``)."""
    return fit_kmeans(np.concatenate([np.asarray(t, dtype=np.float64) for t in tics]), n_clusters, seed)


def reversible_msm(dtrajs: Sequence[np.ndarray], n_states: int, lag_frames: int):
    """(count model of the largest connected set, reversible maximum-likelihood MSM on it) of discrete
    trajectories at ``lag_frames`` (deeptime); among sets of equal size the one with the most transition counts
    (a run that never leaves one cluster: that cluster). The MSM is None when the set is one state. Trajectories
    not longer than the lag hold no transition and are left out; none longer is refused. The one estimator of
    the analyses (reweighting, implied timescales, metastates)."""
    usable = [np.asarray(d, dtype=np.int32) for d in dtrajs if len(d) > lag_frames]
    if not usable:
        raise TicaError(f"every trajectory is shorter than the MSM lag ({lag_frames} frames); choose a shorter "
                        "msm_lag_ps")
    counts = TransitionCountEstimator(lagtime=lag_frames, count_mode="sliding", n_states=n_states).fit(
        usable).fetch_model()
    # deeptime's submodel_largest(sort_by_population=True) takes the most-counted set even when it is smaller
    sets = counts.connected_sets(directed=True)
    connected = counts.submodel(max(sets, key=lambda s: (len(s), counts.count_matrix[np.ix_(s, s)].sum())))
    if connected.n_states < 2:
        return connected, None
    return connected, MaximumLikelihoodMSM(reversible=True, lagtime=lag_frames).fit(connected).fetch_model()


@dataclass
class MSMReweighting:
    """Frame weights of one set of trajectories and how they were obtained.

    weights: one array per trajectory, summing to 1 over all frames. stationary: pi over all
    clusters (0 outside the connected set). lag_frames: MSM lag in this set's frames.
    """

    weights: list[np.ndarray]
    stationary: np.ndarray
    lag_frames: int
    n_connected_states: int
    n_visited_states: int
    excluded_fraction: float

    def summary(self) -> dict:
        info = asdict(self)
        del info["weights"]
        info["stationary"] = self.stationary.tolist()
        return info


def msm_reweighting(dtrajs: Sequence[np.ndarray], n_clusters: int, lag_frames: int) -> MSMReweighting:
    """Estimate a reversible MSM on ``dtrajs`` (cluster index per frame) at ``lag_frames`` and weight
    every frame by its cluster's stationary probability over the cluster's frame count."""
    dtrajs = [np.asarray(d, dtype=np.int32) for d in dtrajs]
    connected, msm = reversible_msm(dtrajs, n_clusters, lag_frames)
    stationary = np.zeros(n_clusters)
    # a run that never leaves one cluster: that cluster is all there is
    stationary[connected.state_symbols] = 1.0 if msm is None else msm.stationary_distribution
    frames_per_state = np.bincount(np.concatenate(dtrajs), minlength=n_clusters)
    per_frame = np.divide(stationary, frames_per_state, out=np.zeros(n_clusters),
                          where=frames_per_state > 0)
    weights = [per_frame[d] for d in dtrajs]
    total = sum(w.sum() for w in weights)
    weights = [w / total for w in weights]
    excluded = frames_per_state[stationary == 0].sum() / frames_per_state.sum()
    return MSMReweighting(weights=weights, stationary=stationary, lag_frames=lag_frames,
                          n_connected_states=int(len(connected.state_symbols)),
                          n_visited_states=int((frames_per_state > 0).sum()),
                          excluded_fraction=float(excluded))
