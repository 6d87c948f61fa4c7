"""Transition-path metrics on metastate trajectories (Align Your Structures, section 5.5 and appendix B.3.3, which
follow MDGen's transition path sampling evaluation), with deeptime.

The reference's cluster trajectories make a reversible MSM; PCCA+ lumps its clusters into metastates, and a
second MSM on the metastate trajectories (same lag) is the *coarse MSM* T. A path is a sequence of metastates
s_0 .. s_L one MSM lag apart. Under T, conditioned on ending in the end state e after L steps, a path's
probability is the product of the bridge's conditional steps

    P(s_{t+1} | s_t, s_L = e) = T[s_t, s_{t+1}] (T^(L-t-1))[s_{t+1}, e] / (T^(L-t))[s_t, e],

(MDGen's ``get_tp_likelihood``), and the *reference paths* are bridges drawn from that same law from the start
state (``sample_bridges``). For a set of paths:
- valid path rate: the fraction of paths that start in the start metastate and have a probability above 0
  (they end in the end metastate and take only steps the reference MSM allows);
- average path probability: the mean of the path probabilities (0 for the invalid ones); valid path probability:
  the mean over the valid paths;
- occupancy: the fraction of the paths' states in each metastate, compared with the reference paths' by the
  Jensen-Shannon divergence (natural log; its square root is the distance the paper reports).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .divergence import jensen_shannon, js_distance
from .msm import reversible_msm
from .tica import TicaError


@dataclass
class MetastableModel:
    """The reference's metastates and coarse MSM.

    metastate_of_cluster: (n_clusters,) int, the PCCA+ metastate of every cluster (a cluster outside the
    fine MSM's connected set takes that of the nearest connected cluster centre). transition_matrix:
    (n_metastates, n_metastates) of the coarse MSM at ``lag_frames`` (zero rows for metastates outside its
    connected set). stationary: (n_metastates,) its stationary distribution (0 outside).
    """

    metastate_of_cluster: np.ndarray
    transition_matrix: np.ndarray
    stationary: np.ndarray
    lag_frames: int

    @property
    def n_metastates(self) -> int:
        return len(self.stationary)

    def flux(self) -> np.ndarray:
        """(n_metastates, n_metastates) pi_i T_ij, zero on the diagonal."""
        flux = self.stationary[:, None] * self.transition_matrix
        np.fill_diagonal(flux, 0.0)
        return flux


def coarse_msm(metastate_dtrajs: Sequence[np.ndarray], n_metastates: int, lag_frames: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """(transition matrix (n, n), stationary distribution (n,)) of a reversible MSM on metastate trajectories,
    over all ``n_metastates`` (zero rows and probability outside the largest connected set)."""
    connected, msm = reversible_msm(metastate_dtrajs, n_metastates, lag_frames)
    symbols = connected.state_symbols
    transition = np.zeros((n_metastates, n_metastates))
    transition[np.ix_(symbols, symbols)] = 1.0 if msm is None else msm.transition_matrix
    stationary = np.zeros(n_metastates)
    stationary[symbols] = 1.0 if msm is None else msm.stationary_distribution
    return transition, stationary


def metastable_model(dtrajs: Sequence[np.ndarray], cluster_centres: np.ndarray, n_metastates: int,
                     lag_frames: int) -> MetastableModel:
    """PCCA+ metastates of the cluster trajectories ``dtrajs`` (one cluster index per frame; ``cluster_centres``
    (n_clusters, n_tics)) and the coarse MSM, both at ``lag_frames``."""
    n_clusters = len(cluster_centres)
    connected, msm = reversible_msm(dtrajs, n_clusters, lag_frames)
    if msm is None or not 2 <= n_metastates <= connected.n_states:
        raise TicaError(f"{n_metastates} metastates cannot be made of the {connected.n_states} connected clusters "
                        "of the reference MSM; choose between 2 and that many metastates (or more clusters)")
    metastate = np.full(n_clusters, -1)
    metastate[connected.state_symbols] = msm.pcca(n_metastates).assignments
    outside = np.flatnonzero(metastate < 0)
    if len(outside):
        inside = connected.state_symbols
        distance = np.linalg.norm(cluster_centres[outside, None] - cluster_centres[None, inside], axis=-1)
        metastate[outside] = metastate[inside[np.argmin(distance, axis=1)]]
    transition, stationary = coarse_msm([metastate[np.asarray(d)] for d in dtrajs], n_metastates, lag_frames)
    return MetastableModel(metastate, transition, stationary, lag_frames)


def least_flux_pair(model: MetastableModel, min_flux: float) -> tuple[int, int]:
    """(start, end): the two metastates with the least flux pi_i T_ij between them among the pairs with at
    least ``min_flux`` (Align Your Structures' choice of a rare transition; pairs below it never meet in the
    data); start is the lower index of the two."""
    flux = model.flux()
    flux = np.where(flux >= min_flux, flux, np.inf)
    if not np.isfinite(flux).any():
        raise TicaError(f"no two metastates exchange a flux of at least {min_flux:g}; lower min_flux, use fewer "
                        "metastates, or name the two states")
    i, j = np.unravel_index(np.argmin(flux), flux.shape)
    return int(min(i, j)), int(max(i, j))


def _to_end(transition: np.ndarray, end: int, n_steps: int) -> np.ndarray:
    """(n_steps + 1, n) where row m holds (T^m)[:, end], the probability to be in ``end`` m steps later."""
    rows = [np.eye(len(transition))[:, end]]
    for _ in range(n_steps):
        rows.append(transition @ rows[-1])
    return np.stack(rows)


def sample_bridges(transition: np.ndarray, start: int, end: int, n_steps: int, n_paths: int,
                   rng: np.random.Generator) -> Optional[np.ndarray]:
    """(n_paths, n_steps + 1) metastate paths from ``start`` drawn from the MSM conditioned to be in ``end`` after
    ``n_steps`` steps; None when the MSM cannot go from start to end in that many steps."""
    to_end = _to_end(transition, end, n_steps)
    if not to_end[n_steps, start] > 0:
        return None
    states = [np.full(n_paths, start)]
    for t in range(n_steps - 1):
        current = states[-1]
        probabilities = transition[current] * to_end[n_steps - t - 1][None, :]
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        draws = rng.random(n_paths)[:, None]
        states.append(np.minimum((probabilities.cumsum(axis=1) < draws).sum(axis=1), len(transition) - 1))
    states.append(np.full(n_paths, end))
    return np.stack(states, axis=1)


def path_probabilities(paths: np.ndarray, transition: np.ndarray, start: int, end: int) -> np.ndarray:
    """(n_paths,) probability of each metastate path (n_paths, L + 1) under the MSM bridge from ``start`` to
    ``end`` in L steps (module docstring); 0 for a path that does not start in ``start``."""
    paths = np.asarray(paths)
    n_steps = paths.shape[1] - 1
    to_end = _to_end(transition, end, n_steps)
    probability = (paths[:, 0] == start).astype(float)
    for t in range(n_steps):
        here, there = paths[:, t], paths[:, t + 1]
        denominator = to_end[n_steps - t, here]
        step = transition[here, there] * to_end[n_steps - t - 1, there]
        probability *= np.divide(step, denominator, out=np.zeros_like(step), where=denominator > 0)
    return probability


def occupancy(paths: np.ndarray, n_metastates: int) -> np.ndarray:
    """(n_metastates,) fraction of all states of the paths (n_paths, L + 1) in each metastate."""
    counts = np.bincount(np.asarray(paths).ravel(), minlength=n_metastates).astype(float)
    return counts / counts.sum()


def transition_segments(metastate_dtrajs: Sequence[np.ndarray], start: int, end: int, n_steps: int,
                        lag_frames: int) -> np.ndarray:
    """(n, n_steps + 1) the metastates, every ``lag_frames`` frames, of every stretch of n_steps x lag_frames
    frames of the trajectories that starts in ``start`` and ends in ``end`` (every start frame counted)."""
    span = n_steps * lag_frames
    segments = [d[i:i + span + 1:lag_frames] for d in map(np.asarray, metastate_dtrajs)
                for i in np.flatnonzero(d[:max(len(d) - span, 0)] == start) if d[i + span] == end]
    return np.array(segments, dtype=int).reshape(-1, n_steps + 1)


@dataclass
class PathSetMetrics:
    """One set of metastate paths judged against the reference paths (module docstring).

    paths: how many. valid_rate, mean_path_probability, valid_path_probability (None without a valid path):
    as defined above. occupancy: per metastate. js_divergence / js_distance: of the occupancy against the
    reference paths' (natural log; the distance is the square root).
    """

    name: str
    paths: int
    valid_rate: float
    mean_path_probability: float
    valid_path_probability: Optional[float]
    occupancy: list[float]
    js_divergence: float
    js_distance: float


def path_set_metrics(name: str, paths: np.ndarray, model: MetastableModel, start: int, end: int,
                     reference_occupancy: np.ndarray) -> PathSetMetrics:
    """Valid rate, path probabilities and occupancy divergence of metastate paths (n_paths, L + 1)."""
    if len(paths) == 0:
        raise TicaError(f"{name}: no paths to judge")
    probability = path_probabilities(paths, model.transition_matrix, start, end)
    valid = probability > 0
    share = occupancy(paths, model.n_metastates)
    divergence = jensen_shannon(reference_occupancy, share)
    return PathSetMetrics(name=name, paths=int(len(paths)), valid_rate=float(valid.mean()),
                          mean_path_probability=float(probability.mean()),
                          valid_path_probability=float(probability[valid].mean()) if valid.any() else None,
                          occupancy=share.tolist(), js_divergence=divergence, js_distance=js_distance(divergence))
