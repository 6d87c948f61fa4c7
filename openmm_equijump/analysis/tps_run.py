"""Transition paths judged against reference MD from files (``python -m openmm_equijump.analyze --tps``).

1. The reference's metastates: TICA on C-alpha distances and k-means on its TICs (``analysis.tica``, as the
   other analyses), a reversible MSM on the clusters, PCCA+ into metastates and a coarse MSM on them
   (``analysis.tps``). Fixed seed: the same files and settings give the same metastates on every call.
2. Start and end metastates: the pair with the least flux (Align Your Structures), or the two named.
3. Without generated paths: ``endpoints`` start and end frames drawn from the reference frames of the two
   metastates, written as heavy-atom PDBs (``endpoints/start_<k>.pdb``, ``end_<k>.pdb``) for ``interpolate``.
4. With generated paths (``interpolate``'s, all of one length): every path frame's metastate, the path read
   every MSM lag (``path_states``), and its metrics (``analysis.tps``) beside those of independent bridges of the
   reference MSM, as many as the generated paths (the noise floor of the occupancy JS, whose reference occupancy
   comes from ``bridges`` other bridges), of the reference MD's stretches of the same duration that go from the start to the
   end metastate, and of bridges of MSMs estimated on held-out MD ("oracle") cut to given durations (the paper's
   MD oracles of growing length).

Writes ``tps_report.yaml`` (every number and setting), ``tps.png`` and ``tps_config.yaml`` (``--config`` reads it
back).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import mdtraj as md  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from ..config import check_ranges  # noqa: E402
from ..errors import ConfigError  # noqa: E402
from .divergence import JS_PAIR_LABEL, js_pair  # noqa: E402
from .frames import AnalysisInputError, Ensemble, load_ensemble  # noqa: E402
from .msm import fit_clusters  # noqa: E402
from .observables import calpha_indices, calpha_rmsd_A  # noqa: E402
from .settings import PAPER_N_CLUSTERS, default_tica_lag_ps, whole_frames  # noqa: E402
from .tica import calpha_distances, fit_tica  # noqa: E402
from .tps import (MetastableModel, PathSetMetrics, coarse_msm, least_flux_pair, metastable_model,  # noqa: E402
                  occupancy, path_set_metrics, sample_bridges, transition_segments)

CONFIG_NAME = "tps_config.yaml"
REPORT_NAME = "tps_report.yaml"
FIGURE_NAME = "tps.png"
#: Align Your Structures: 100 k-means clusters lumped into 10 PCCA+ metastates; pairs of metastates exchanging
#: less flux than 1e-4 are never start and end.
PAPER_N_METASTATES = 10
PAPER_MIN_FLUX = 1e-4


@dataclass
class TPSSettings:
    """How transition paths are judged (``analysis.tps``).

    n_clusters, n_metastates: k-means clusters on the reference TICs and the PCCA+ metastates made of them (the
    paper's 100 and 10). tica_lag_ps (None: 1/20 of the shortest reference trajectory, at most 2 ns), n_tics:
    the TICA. msm_lag_ps: lag of both MSMs and the time between the path states compared (None: one reference
    frame). states: [start, end] metastates (None: the least-flux pair of those exchanging at least min_flux).
    bridges: paths drawn from each MSM (the reference's and every oracle's; the paper's 900). endpoints: start
    and end frames written when no generated paths are given. oracle_ns: durations (ns) every oracle trajectory
    is cut to, one MSM each (empty: whole). seed: k-means, bridges and endpoint draws. reference_frame_ps,
    generated_frame_ps: frame intervals overriding the files'.
    """

    n_clusters: int = PAPER_N_CLUSTERS
    n_metastates: int = PAPER_N_METASTATES
    tica_lag_ps: Optional[float] = None
    n_tics: int = 4
    msm_lag_ps: Optional[float] = None
    states: Optional[list[int]] = None
    min_flux: float = PAPER_MIN_FLUX
    bridges: int = 1000
    endpoints: int = 1
    oracle_ns: list[float] = field(default_factory=list)
    seed: int = 0
    reference_frame_ps: Optional[float] = None
    generated_frame_ps: Optional[float] = None

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n_clusters", "bridges", "endpoints"),
                     positive=("tica_lag_ps", "msm_lag_ps", "min_flux", "reference_frame_ps", "generated_frame_ps"))
        if self.n_tics < 2:
            raise ConfigError(f"TPSSettings.n_tics must be >= 2 (the paths are drawn on TIC1 and TIC2), got {self.n_tics}")
        if self.n_metastates < 2:
            raise ConfigError(f"TPSSettings.n_metastates must be >= 2, got {self.n_metastates}")
        if self.states is not None and (len(self.states) != 2 or self.states[0] == self.states[1]):
            raise ConfigError(f"TPSSettings.states must be two different metastates [start, end], got {self.states}")
        if any(ns <= 0 for ns in self.oracle_ns):
            raise ConfigError(f"TPSSettings.oracle_ns must be positive durations, got {self.oracle_ns}")


@dataclass
class TPSConfig:
    """One ``analyze --tps`` run (saved as ``tps_config.yaml``).

    topology, reference: the reference MD. out: output folder. generated, generated_topology: the paths
    (``interpolate``'s ``path_<k>.dcd`` and ``topology.pdb``); none: write endpoints instead. oracle,
    oracle_topology (default: topology): held-out MD for the oracle rows. native: a native structure; when
    given, the report says how far each metastate's reference frames are from it (C-alpha RMSD), so that the
    folded and an unfolded metastate can be named in ``states``. figures: write ``tps.png``.
    """

    topology: str
    reference: list[str]
    out: str
    generated: list[str] = field(default_factory=list)
    generated_topology: Optional[str] = None
    oracle: list[str] = field(default_factory=list)
    oracle_topology: Optional[str] = None
    native: Optional[str] = None
    settings: TPSSettings = field(default_factory=TPSSettings)
    figures: bool = True


@dataclass
class ReferenceStates:
    """What is fitted on the reference: TICA, clusters, the metastable model, the states chosen, and every
    reference frame's TICs (n_frames, n_tics) and metastate, one array per trajectory."""

    tica: object
    clusters: object
    calphas: np.ndarray
    model: MetastableModel
    start: int
    end: int
    tics: list[np.ndarray]
    metastates: list[np.ndarray]
    tica_lag_ps: float
    msm_lag_ps: float

    def discretize(self, ensemble: Ensemble) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(TICs, metastate per frame) of every trajectory of an ensemble on the reference's heavy atoms."""
        tics = [self.tica.transform(calpha_distances(t.atom_slice(self.calphas))) for t in ensemble.trajectories]
        return tics, [self.model.metastate_of_cluster[self.clusters.transform(x.astype(np.float64))] for x in tics]


def fit_states(reference: Ensemble, settings: TPSSettings) -> ReferenceStates:
    """Steps 1-2 of the module docstring."""
    tica_lag_ps = settings.tica_lag_ps or default_tica_lag_ps(reference)
    msm_lag_ps = settings.msm_lag_ps or reference.frame_ps
    calphas = calpha_indices(reference.trajectories[0].topology)
    features = [calpha_distances(t.atom_slice(calphas)) for t in reference.trajectories]
    tica = fit_tica(features, whole_frames(tica_lag_ps, reference.frame_ps, "TICA lag"), settings.n_tics)
    tics = [tica.transform(f) for f in features]
    clusters = fit_clusters(tics, settings.n_clusters, settings.seed)
    dtrajs = [clusters.transform(x.astype(np.float64)) for x in tics]
    model = metastable_model(dtrajs, clusters.cluster_centers, settings.n_metastates,
                             whole_frames(msm_lag_ps, reference.frame_ps, "MSM lag (reference)"))
    if settings.states is not None:
        start, end = settings.states
        for state in (start, end):
            if not 0 <= state < settings.n_metastates:
                raise ConfigError(f"metastate {state} does not exist: there are {settings.n_metastates} (0 .. "
                                  f"{settings.n_metastates - 1}); see {REPORT_NAME} for their populations")
    else:
        start, end = least_flux_pair(model, settings.min_flux)
    return ReferenceStates(tica, clusters, calphas, model, start, end, tics,
                           [model.metastate_of_cluster[d] for d in dtrajs], tica_lag_ps, msm_lag_ps)


def write_endpoints(reference: Ensemble, states: ReferenceStates, count: int, seed: int, out: Path) -> list[dict]:
    """``count`` start and end frames drawn (uniformly, with replacement) from the reference frames in the
    start and end metastates, as ``out``/endpoints/start_<k>.pdb and end_<k>.pdb; returns where each came from."""
    rng = np.random.default_rng(seed)
    folder = out / "endpoints"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for role, state in (("start", states.start), ("end", states.end)):
        frames = [(t, f) for t, m in enumerate(states.metastates) for f in np.flatnonzero(m == state)]
        if not frames:
            raise AnalysisInputError(f"no reference frame is assigned to metastate {state} ({role}); choose "
                                     "other --states")
        for k, pick in enumerate(rng.integers(0, len(frames), count)):
            t, f = frames[pick]
            path = folder / f"{role}_{k}.pdb"
            reference.trajectories[t][int(f)].save_pdb(str(path))
            written.append({"file": str(path), "metastate": state, "source": reference.sources[t], "frame": int(f)})
    return written


def path_states(metastates: Sequence[np.ndarray], frame_ps: float, msm_lag_ps: float) -> np.ndarray:
    """(n_paths, L + 1): the metastate of every generated path read every MSM lag, from frame 0 to the last
    frame; refuses paths of different lengths and lags that are not a whole number of path frames or do not
    divide the path."""
    lengths = {len(m) for m in metastates}
    if len(lengths) != 1:
        raise AnalysisInputError(f"the generated paths have different lengths ({sorted(lengths)} frames); judge "
                                 "paths of one interpolation model together")
    frames = lengths.pop()
    step = whole_frames(msm_lag_ps, frame_ps, "MSM lag (generated paths)")
    if (frames - 1) % step:
        raise ConfigError(f"the paths span {frames - 1} frames of {frame_ps:g} ps, not a whole number of MSM lags "
                          f"of {msm_lag_ps:g} ps; choose a --msm-lag-ps that divides {(frames - 1) * frame_ps:g} ps")
    return np.stack([np.asarray(m)[::step] for m in metastates])


def oracle_rows(oracle: Ensemble, states: ReferenceStates, n_steps: int, settings: TPSSettings,
                rng: np.random.Generator, reference_occupancy: np.ndarray) -> list[PathSetMetrics | dict]:
    """One row per oracle duration: bridges of an MSM on the oracle MD cut to that duration, judged under the
    reference MSM; a dict saying why where that MSM cannot go from start to end."""
    _, metastates = states.discretize(oracle)
    lag = whole_frames(states.msm_lag_ps, oracle.frame_ps, "MSM lag (oracle)")
    rows = []
    for ns in settings.oracle_ns or [max(oracle.lengths) * oracle.frame_ps / 1000.0]:
        frames = int(round(ns * 1000.0 / oracle.frame_ps))
        name = f"MD oracle {ns:g} ns x {len(metastates)}"
        bridges = None
        if any(len(m[:frames]) > lag for m in metastates):
            transition, _ = coarse_msm([m[:frames] for m in metastates], states.model.n_metastates, lag)
            bridges = sample_bridges(transition, states.start, states.end, n_steps, settings.bridges, rng)
        if bridges is None:
            rows.append({"name": name, "paths": 0, "why": "its MSM does not go from the start to the end metastate "
                                                          f"in {n_steps} lags"})
            continue
        rows.append(path_set_metrics(name, bridges, states.model, states.start, states.end, reference_occupancy))
    return rows


def judge_paths(generated: Ensemble, reference: Ensemble, oracle: Optional[Ensemble], states: ReferenceStates,
                settings: TPSSettings) -> tuple[list, np.ndarray, list[np.ndarray]]:
    """(rows of metrics, the generated paths' metastates every lag, their TICs): step 4 of the module docstring."""
    tics, metastates = states.discretize(generated)
    paths = path_states(metastates, generated.frame_ps, states.msm_lag_ps)
    n_steps = paths.shape[1] - 1
    rng = np.random.default_rng(settings.seed)
    model, start, end = states.model, states.start, states.end
    bridges = sample_bridges(model.transition_matrix, start, end, n_steps, settings.bridges, rng)
    if bridges is None:
        raise AnalysisInputError(f"the reference MSM cannot go from metastate {start} to {end} in {n_steps} lags of "
                                 f"{states.msm_lag_ps:g} ps: no reference paths to compare with; choose other "
                                 "--states or a shorter --msm-lag-ps")
    expected = occupancy(bridges, model.n_metastates)
    # the noise floor of the occupancy JS: independent reference bridges, as many as the generated paths
    floor = sample_bridges(model.transition_matrix, start, end, n_steps, len(paths), rng)
    rows = [path_set_metrics("generated", paths, model, start, end, expected),
            path_set_metrics(f"reference MSM bridges x {len(paths)}", floor, model, start, end, expected)]
    segments = transition_segments(states.metastates, start, end, n_steps,
                                   whole_frames(states.msm_lag_ps, reference.frame_ps, "MSM lag (reference)"))
    if len(segments):
        rows.append(path_set_metrics("reference MD stretches", segments, model, start, end, expected))
    else:
        rows.append({"name": "reference MD stretches", "paths": 0,
                     "why": f"no stretch of {n_steps} lags of the reference goes from the start to the end metastate"})
    if oracle is not None:
        rows += oracle_rows(oracle, states, n_steps, settings, rng, expected)
    return rows, paths, tics


def tps_table(rows: list) -> str:
    """The rows as a text table: paths, valid rate, path probabilities, occupancy divergence / distance."""
    lines = [f"{'':<30}{'paths':>7}{'valid rate':>12}{'avg path p':>12}{'valid path p':>14}"
             f"{JS_PAIR_LABEL + ' of occupancy':>40}"]
    for row in rows:
        if isinstance(row, dict):
            lines.append(f"{row['name']:<30}{row['paths']:>7}   ({row['why']})")
            continue
        valid_p = "-" if row.valid_path_probability is None else f"{row.valid_path_probability:.3g}"
        lines.append(f"{row.name:<30}{row.paths:>7}{row.valid_rate:>12.3f}{row.mean_path_probability:>12.3g}"
                     f"{valid_p:>14}{js_pair(row.js_divergence):>40}")
    return "\n".join(lines)


def plot_tps(states: ReferenceStates, path_tics: list[np.ndarray], rows: list, path: Path, shown: int = 5) -> None:
    """Reference frames on TIC1/TIC2 coloured by metastate with the first ``shown`` generated paths (start
    red, end orange), and the metastate occupancy of every set of paths."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    tics, colours = np.concatenate(states.tics), np.concatenate(states.metastates)
    step = max(1, len(tics) // 20000)
    scatter = left.scatter(tics[::step, 0], tics[::step, 1], c=colours[::step], cmap="tab10", s=2,
                           vmin=-0.5, vmax=9.5 if states.model.n_metastates <= 10 else None)
    figure.colorbar(scatter, ax=left, label="metastate")
    for x in path_tics[:shown]:
        left.plot(x[:, 0], x[:, 1], "k.-", lw=0.8, ms=3)
        left.plot(*x[0, :2], "o", color="red", ms=6)
        left.plot(*x[-1, :2], "o", color="orange", ms=6)
    left.set(xlabel="TIC1", ylabel="TIC2", title=f"start metastate {states.start}, end {states.end}")
    judged = [row for row in rows if isinstance(row, PathSetMetrics)]
    width = 0.8 / len(judged)
    for k, row in enumerate(judged):
        right.bar(np.arange(states.model.n_metastates) + k * width, row.occupancy, width,
                  label=f"{row.name} ({js_pair(row.js_divergence)})")
    right.set_xticks(np.arange(states.model.n_metastates) + 0.4 - width / 2, range(states.model.n_metastates))
    right.set(xlabel="metastate", ylabel="occupancy", title=f"occupancy ({JS_PAIR_LABEL} vs reference bridges)")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def metastate_rmsd_A(reference: Ensemble, states: ReferenceStates, native_path: str) -> list[Optional[float]]:
    """Per metastate, the median C-alpha RMSD (A) of its reference frames to the native structure (None for a
    metastate without frames)."""
    native = md.load(str(native_path))
    native_ca = native.atom_slice(calpha_indices(native.topology))
    if native_ca.n_atoms != len(states.calphas):
        raise AnalysisInputError(f"native structure {native_path} has {native_ca.n_atoms} C-alphas, the reference "
                                 f"{len(states.calphas)}: give the native structure of the reference's protein")
    rmsd = np.concatenate([calpha_rmsd_A(t.atom_slice(states.calphas), native_ca) for t in reference.trajectories])
    labels = np.concatenate(states.metastates)
    return [float(np.median(rmsd[labels == m])) if (labels == m).any() else None
            for m in range(states.model.n_metastates)]


def metastate_table(report: dict) -> str:
    """One line per metastate: stationary probability, reference frames and (with a native) median RMSD."""
    rmsd = report.get("metastate_median_rmsd_A")
    lines = ["metastate  stationary  frames" + ("  median C-alpha RMSD to native (A)" if rmsd else "")]
    for m, (p, n) in enumerate(zip(report["metastate_stationary"], report["reference_frames_per_metastate"])):
        cell = "" if not rmsd else ("          -" if rmsd[m] is None else f"  {rmsd[m]:10.2f}")
        lines.append(f"{m:>9}  {p:10.3f}  {n:>6}{cell}")
    return "\n".join(lines)


def _ensemble(paths: list[str], topology: Optional[str], reference_topology: md.Topology, frame_ps, what: str):
    return load_ensemble(paths, topology, reference_topology, frame_ps, what) if paths else None


def run_tps(config: TPSConfig) -> dict:
    """Run ``config`` into its output folder (module docstring); returns what ``tps_report.yaml`` holds, with
    ``table``, the printed summary."""
    settings = config.settings
    for name, path in (("reference topology", config.topology), ("native structure", config.native)):
        if path and not Path(path).is_file():
            raise AnalysisInputError(f"{name} {path}: no such file")
    topology = md.load_topology(str(config.topology))
    reference = load_ensemble(config.reference, config.topology, topology, settings.reference_frame_ps, "reference")
    generated = _ensemble(config.generated, config.generated_topology or config.topology, topology,
                          settings.generated_frame_ps, "generated")
    oracle = _ensemble(config.oracle, config.oracle_topology or config.topology, topology, None, "oracle")
    states = fit_states(reference, settings)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    model = states.model
    report = {"settings": asdict(settings), "tica_lag_ps": states.tica_lag_ps, "msm_lag_ps": states.msm_lag_ps,
              "start_metastate": states.start, "end_metastate": states.end,
              "chosen": "given (states)" if settings.states else f"least flux (>= {settings.min_flux:g})",
              "metastate_stationary": model.stationary.tolist(), "flux": model.flux().tolist(),
              "coarse_transition_matrix": model.transition_matrix.tolist(),
              "reference_frames_per_metastate": np.bincount(np.concatenate(states.metastates),
                                                            minlength=model.n_metastates).tolist(),
              "divergence": "Jensen-Shannon, natural log (0 .. ln 2); distance = sqrt(divergence) (scipy)"}
    if config.native:
        report["metastate_median_rmsd_A"] = metastate_rmsd_A(reference, states, config.native)
    if generated is None:
        report["endpoints"] = write_endpoints(reference, states, settings.endpoints, settings.seed, out)
        report["table"] = (metastate_table(report) + f"\nstart metastate {states.start}, end {states.end} "
                           f"({report['chosen']}); wrote {settings.endpoints} start and end frames to "
                           f"{out / 'endpoints'}")
    else:
        rows, paths, tics = judge_paths(generated, reference, oracle, states, settings)
        report["path_frame_ps"] = generated.frame_ps
        report["path_states"] = int(paths.shape[1])
        report["rows"] = [asdict(row) if isinstance(row, PathSetMetrics) else row for row in rows]
        report["table"] = (metastate_table(report) + f"\nstart metastate {states.start}, end {states.end} "
                           f"({report['chosen']}); paths read every "
                           f"{states.msm_lag_ps:g} ps ({paths.shape[1]} states)\n" + tps_table(rows))
        if config.figures:
            plot_tps(states, tics, rows, out / FIGURE_NAME)
    (out / REPORT_NAME).write_text(yaml.safe_dump({k: v for k, v in report.items() if k != "table"},
                                                  sort_keys=False))
    return report
