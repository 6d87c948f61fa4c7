"""Kinetics of an ensemble of trajectories, each number with a bootstrap interval over trajectories.

For MD and generated trajectories alike (frames at any interval; times in ns):
- folded fraction: frames with C-alpha RMSD to native below ``folded_A``, per run and pooled;
- folding and unfolding mean first-passage times between two core sets on the same RMSD (folded core below
  ``folded_core_A``, unfolded core above ``unfolded_core_A``); every frame belongs to the last core it
  visited (transition-based assignment, frames before the first core are not counted), and
  MFPT(U -> F) = time assigned to U / number of U -> F switches (the maximum-likelihood two-state rate,
  pooled over trajectories); with no switch at all the MFPT is reported as longer than the time in U;
- implied timescales of a reversible MSM on the reference's TICA clusters at ``msm_lag_ns``;
- the integrated autocorrelation time of TIC1 (initial positive sequence of the pooled autocorrelation);
- the mean C-alpha RMSD between frames ``displacement_lag_ns`` apart, split by the state at the first frame.

The interval is the 2.5-97.5 percentile range of the statistic over ``n_bootstrap`` resamplings of whole
trajectories with replacement (trajectories are the independent units; frames within one are not). Stretches of
one run (a replica whose file lost frames comes as stretches) are one unit: they are resampled together.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import mdtraj as md
import numpy as np

from ..units import ANGSTROM_PER_NM
from .msm import fit_clusters, reversible_msm
from .observables import calpha_indices, calpha_rmsd_A
from .tica import TicaError, calpha_distances, fit_tica

FOLDED, UNFOLDED, UNASSIGNED = 1, 0, -1


@dataclass
class KineticsSettings:
    """State rules and estimator settings (C-alpha RMSD to native in A, times in ns)."""

    folded_A: float = 2.0
    folded_core_A: float = 1.5
    unfolded_core_A: float = 4.0
    msm_lag_ns: float = 1.0
    n_timescales: int = 3
    displacement_lag_ns: float = 0.1
    max_autocorrelation_ns: float = 20.0
    n_bootstrap: int = 200
    seed: int = 0


@dataclass
class Estimate:
    """A statistic on all trajectories and its bootstrap interval (nan where a resample has no estimate)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def bootstrap(n_trajectories: int, statistic: Callable[[np.ndarray], float], n_bootstrap: int,
              seed: int, runs: Optional[Sequence[int]] = None) -> Estimate:
    """``statistic(indices)`` on all trajectories and on ``n_bootstrap`` resamplings (with replacement) of the
    independent runs: ``runs[i]`` names the run of trajectory i (default: every trajectory its own run)."""
    rng = np.random.default_rng(seed)
    runs = np.arange(n_trajectories) if runs is None else np.asarray(runs)
    if len(runs) != n_trajectories:
        raise ValueError(f"runs names {len(runs)} trajectories, not {n_trajectories}")
    members = [np.flatnonzero(runs == r) for r in np.unique(runs)]
    value = statistic(np.arange(n_trajectories))
    draws = np.array([statistic(np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))]))
                      for _ in range(n_bootstrap)])
    finite = draws[np.isfinite(draws)]
    if len(finite) == 0:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(float(value), float(low), float(high))


def core_set_states(rmsd_A: np.ndarray, folded_core_A: float, unfolded_core_A: float) -> np.ndarray:
    """(n_frames,) FOLDED / UNFOLDED for the last core visited, UNASSIGNED before the first one."""
    if not folded_core_A < unfolded_core_A:
        raise ValueError(f"the folded core ({folded_core_A} A) must lie below the unfolded core ({unfolded_core_A} A)")
    states = np.full(len(rmsd_A), UNASSIGNED)
    current = UNASSIGNED
    for i, r in enumerate(rmsd_A):
        if r < folded_core_A:
            current = FOLDED
        elif r > unfolded_core_A:
            current = UNFOLDED
        states[i] = current
    return states


def switch_counts(states: Sequence[np.ndarray], frame_ns: float) -> dict[str, float]:
    """Time (ns) assigned to each state and the number of switches out of it, summed over trajectories."""
    out = {"ns_in_unfolded": 0.0, "ns_in_folded": 0.0, "folding_events": 0, "unfolding_events": 0}
    for s in states:
        out["ns_in_unfolded"] += frame_ns * np.count_nonzero(s == UNFOLDED)
        out["ns_in_folded"] += frame_ns * np.count_nonzero(s == FOLDED)
        out["folding_events"] += int(np.count_nonzero((s[:-1] == UNFOLDED) & (s[1:] == FOLDED)))
        out["unfolding_events"] += int(np.count_nonzero((s[:-1] == FOLDED) & (s[1:] == UNFOLDED)))
    return out


def mean_first_passage_ns(states: Sequence[np.ndarray], frame_ns: float) -> tuple[float, float]:
    """(folding, unfolding) MFPTs in ns; inf where no switch happened."""
    c = switch_counts(states, frame_ns)
    fold = c["ns_in_unfolded"] / c["folding_events"] if c["folding_events"] else float("inf")
    unfold = c["ns_in_folded"] / c["unfolding_events"] if c["unfolding_events"] else float("inf")
    return fold, unfold


def implied_timescales_ns(dtrajs: Sequence[np.ndarray], n_states: int, lag_frames: int, frame_ns: float,
                          k: int) -> np.ndarray:
    """(k,) slowest implied timescales (ns) of a reversible MSM on the largest connected set; nan if fewer."""
    out = np.full(k, np.nan)
    try:
        connected, msm = reversible_msm(dtrajs, n_states, lag_frames)
    except TicaError:  # a bootstrap resample of trajectories shorter than the lag: no estimate
        return out
    if msm is None:
        return out
    timescales = msm.timescales(min(k, connected.n_states - 1)) * frame_ns
    out[:len(timescales)] = timescales
    return out


def autocorrelation_time_ns(series: Sequence[np.ndarray], frame_ns: float, max_lag_frames: int) -> float:
    """Integrated autocorrelation time (ns): dt (1/2 + sum_t rho(t)) over the initial positive sequence of the
    autocorrelation rho pooled over trajectories (pooled mean and variance)."""
    series = [np.asarray(s, dtype=np.float64) for s in series if len(s) > 1]
    if not series:
        return float("nan")
    pooled = np.concatenate(series)
    mean, var = pooled.mean(), pooled.var()
    if var == 0:
        return float("nan")
    total = 0.5
    for t in range(1, max_lag_frames + 1):
        products = [((s[:-t] - mean) * (s[t:] - mean)) for s in series if len(s) > t]
        if not products:
            break
        rho = np.concatenate(products).mean() / var
        if rho <= 0:
            break
        total += rho
    return total * frame_ns


def paired_rmsd_A(a_nm: np.ndarray, b_nm: np.ndarray) -> np.ndarray:
    """(n,) RMSD (A) between frames a[i] and b[i] after optimal superposition (Kabsch); inputs (n, atoms, 3) nm."""
    a = a_nm - a_nm.mean(axis=1, keepdims=True)
    b = b_nm - b_nm.mean(axis=1, keepdims=True)
    u, sigma, vt = np.linalg.svd(np.einsum("nai,naj->nij", a, b))
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    overlap = sigma[:, 0] + sigma[:, 1] + sign * sigma[:, 2]
    squared = ((a ** 2).sum((1, 2)) + (b ** 2).sum((1, 2)) - 2.0 * overlap) / a.shape[1]
    return np.sqrt(np.maximum(squared, 0.0)) * ANGSTROM_PER_NM


def displacement_A(calphas: Sequence[np.ndarray], lag_frames: int) -> list[np.ndarray]:
    """Per trajectory of C-alpha positions (n_frames, n_calphas, 3) nm: (n_frames - lag,) RMSD (A) between
    frame t and frame t + lag."""
    return [paired_rmsd_A(x[:-lag_frames], x[lag_frames:]) if len(x) > lag_frames else np.zeros(0)
            for x in calphas]


@dataclass
class KineticsInput:
    """Per-trajectory series of one ensemble: C-alpha RMSD to native (A), TIC1, cluster index (of n_clusters
    fitted on the reference), C-alpha positions (n_frames, n_calphas, 3) nm; frames frame_ns apart. ``runs``:
    the independent run of each trajectory (stretches of one run share it; default: each its own)."""

    rmsd_A: list[np.ndarray]
    tic1: list[np.ndarray]
    dtrajs: list[np.ndarray]
    calphas_nm: list[np.ndarray]
    frame_ns: float
    n_clusters: int
    runs: Optional[list[int]] = None


def _frames(ns: float, frame_ns: float, name: str) -> int:
    frames = ns / frame_ns
    if frames < 1 - 1e-6 or abs(frames - round(frames)) > 1e-6:
        raise ValueError(f"{name} = {ns} ns is not a whole number of {frame_ns} ns frames")
    return int(round(frames))


def kinetics(data: KineticsInput, settings: KineticsSettings = KineticsSettings()) -> dict:
    """Every statistic of the module docstring with its bootstrap interval, as a plain dict."""
    s, dt = settings, data.frame_ns
    n = len(data.rmsd_A)
    states = [core_set_states(r, s.folded_core_A, s.unfolded_core_A) for r in data.rmsd_A]
    msm_lag = _frames(s.msm_lag_ns, dt, "msm_lag_ns")
    max_lag = max(1, int(s.max_autocorrelation_ns / dt))

    def pooled(values: list[np.ndarray], idx: np.ndarray, mask=None) -> float:
        chosen = [values[i] if mask is None else values[i][mask[i]] for i in idx]
        chosen = np.concatenate(chosen) if chosen else np.zeros(0)
        return float(chosen.mean()) if len(chosen) else float("nan")

    folded = [r < s.folded_A for r in data.rmsd_A]
    lag = _frames(s.displacement_lag_ns, dt, "displacement_lag_ns")
    displacements = displacement_A(data.calphas_nm, lag)
    start_folded = [f[: len(d)] for f, d in zip(folded, displacements)]
    start_unfolded = [~f for f in start_folded]
    runs = list(range(n)) if data.runs is None else list(data.runs)
    run = lambda statistic: bootstrap(n, statistic, s.n_bootstrap, s.seed, runs)  # noqa: E731
    report = {
        "trajectories": n,
        "runs": len(set(runs)),
        "ns": float(sum(len(r) for r in data.rmsd_A) * dt),
        "folded_fraction": run(lambda idx: pooled([f.astype(float) for f in folded], idx)),
        "folded_fraction_per_run": _per_run(folded, runs),
        "mfpt_folding_ns": run(lambda idx: mean_first_passage_ns([states[i] for i in idx], dt)[0]),
        "mfpt_unfolding_ns": run(lambda idx: mean_first_passage_ns([states[i] for i in idx], dt)[1]),
        "switches": switch_counts(states, dt),
        "tic1_autocorrelation_ns": run(lambda idx: autocorrelation_time_ns([data.tic1[i] for i in idx], dt, max_lag)),
        f"displacement_{s.displacement_lag_ns:g}ns_folded_A": run(
            lambda idx: pooled(displacements, idx, start_folded)),
        f"displacement_{s.displacement_lag_ns:g}ns_unfolded_A": run(
            lambda idx: pooled(displacements, idx, start_unfolded)),
    }
    for k in range(s.n_timescales):
        report[f"implied_timescale_{k + 1}_ns"] = run(
            lambda idx, k=k: implied_timescales_ns([data.dtrajs[i] for i in idx], data.n_clusters, msm_lag, dt,
                                                   s.n_timescales)[k])
    report["settings"] = asdict(settings)
    report["displacement_lag_frames"] = lag
    return report


def _per_run(folded: Sequence[np.ndarray], runs: Sequence[int]) -> dict:
    """{run: fraction of its frames folded}, pooling the stretches of one run (``runs[i]``: trajectory i's)."""
    return {int(r): float(np.concatenate([f for f, q in zip(folded, runs) if q == r]).mean())
            for r in sorted(set(runs))}


def report_rows(reports: dict[str, dict]) -> str:
    """A text table of several ensembles' kinetics side by side (name -> kinetics() result)."""
    names = list(reports)
    keys = [k for k, v in reports[names[0]].items() if isinstance(v, Estimate)]
    width = max(len(k) for k in keys) + 2
    lines = [f"{'':{width}}" + "".join(f"{name:>28}" for name in names)]
    for key in ["runs", "trajectories", "ns"] + keys:
        cells = [reports[name].get(key) for name in names]
        lines.append(f"{key:{width}}" + "".join(f"{str(c if not isinstance(c, float) else f'{c:.4g}'):>28}"
                                               for c in cells))
    return "\n".join(lines)


def to_plain(value):
    """A report with Estimates as {value, low, high} and numpy scalars as Python numbers (for YAML/JSON)."""
    if isinstance(value, Estimate):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def kinetics_inputs(ensembles: dict[str, list[md.Trajectory]], frame_ns: dict[str, float], native: md.Trajectory,
                    reference: str, tica_lag_ns: float = 1.0, n_tics: int = 2, n_clusters: int = 50,
                    seed: int = 0) -> dict[str, KineticsInput]:
    """KineticsInputs of several ensembles of heavy-atom trajectories of one protein (C-alphas in the same
    order as ``native``'s), with TICA (C-alpha distances) and k-means fitted on ``reference`` alone.
    Trajectories with a ``replica`` attribute (``md.campaign.campaign_trajectories``' stretches) are grouped
    into runs by it."""
    native_ca = native.atom_slice(calpha_indices(native.topology))
    calphas = {name: [t.atom_slice(calpha_indices(t.topology)) for t in trajs] for name, trajs in ensembles.items()}
    features = {name: [calpha_distances(t) for t in trajs] for name, trajs in calphas.items()}
    tica = fit_tica(features[reference], _frames(tica_lag_ns, frame_ns[reference], "tica_lag_ns"), n_tics)
    tics = {name: [tica.transform(f) for f in feats] for name, feats in features.items()}
    clusters = fit_clusters(tics[reference], n_clusters, seed)
    return {name: KineticsInput(
        rmsd_A=[calpha_rmsd_A(t, native_ca) for t in calphas[name]],
        tic1=[x[:, 0] for x in tics[name]],
        dtrajs=[clusters.transform(x) for x in tics[name]],
        calphas_nm=[t.xyz for t in calphas[name]], frame_ns=frame_ns[name], n_clusters=n_clusters,
        runs=_runs(ensembles[name]))
        for name in ensembles}


def _runs(trajectories: Sequence[md.Trajectory]) -> Optional[list[int]]:
    """The ``replica`` attribute of every trajectory, or None when any lacks one (each its own run)."""
    replicas = [getattr(t, "replica", None) for t in trajectories]
    return None if any(r is None for r in replicas) else replicas
