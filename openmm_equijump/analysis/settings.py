"""Analysis settings, the paper's preset, and the rules that fit unset values to the data given.

The paper (EquiJump, section 3.4 and appendix A.5) fits TICA at a 2 ns lag, clusters the first 4 TICs
into 100 k-means clusters and estimates the MSM at a 45-95 ns lag, on microseconds of reference MD
sampled every 100 ps. A few ns of reference at 10 ps per frame cannot carry that, so every setting left
as None is chosen from the data (``resolve_settings``):

- TICA lag: 1/20 of the shortest reference trajectory (at least one frame), at most the paper's 2 ns;
- clusters: 1/30 of the frames of the smaller ensemble (reference or generated), between 2 and 100;
- MSM lag: 1/10 of the shortest trajectory of either ensemble, at most the paper's 45 ns, rounded down
  to a multiple of the coarser frame interval (both ensembles are counted at the same lag in ps).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..config import check_ranges
from ..errors import ConfigError
from ..protein.vocabulary import SERIOUS_CLASH_OVERLAP_A
from .frames import AnalysisInputError, Ensemble

PAPER_TICA_LAG_PS = 2000.0
PAPER_N_CLUSTERS = 100
PAPER_MSM_LAG_PS = 45000.0  # the paper reports 45-95 ns per protein; the preset takes the shortest


@dataclass
class AnalysisSettings:
    """How dynamics are compared. None means: chosen from the data (see the module docstring).

    tica_lag_ps: TICA lag. n_tics: TICs kept and clustered (the divergences use TIC1 and TIC2).
    n_clusters: k-means clusters on the TICs. msm_lag_ps: lag of the reweighting MSMs.
    n_bins: equal-width bins over the pooled range of each observable for the JS divergences.
    chemistry_frames: frames drawn at random per ensemble for bond/angle/clash statistics.
    clash_overlap_A: van der Waals overlap that counts as a clash. seed: k-means and frame draws.
    reference_frame_ps, generated_frame_ps: frame intervals, overriding what the files say.
    stride_ps: keep one frame per stride_ps of each ensemble (a multiple of its frame interval; an
    ensemble already that coarse is kept whole). None keeps every frame.
    generated_burn_in_ps: left out from the start of every generated trajectory (a whole number of its frames),
    as a reference MD's burn-in is: rollouts from the native structure start where the reference does not.
    noise_floor: also compare two independent parts of the reference with the same settings.
    """

    tica_lag_ps: float | None = None
    n_tics: int = 4
    n_clusters: int | None = None
    msm_lag_ps: float | None = None
    n_bins: int = 30
    chemistry_frames: int = 3000
    clash_overlap_A: float = SERIOUS_CLASH_OVERLAP_A
    seed: int = 0
    reference_frame_ps: float | None = None
    generated_frame_ps: float | None = None
    stride_ps: float | None = None
    generated_burn_in_ps: float = 0.0
    noise_floor: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n_tics", "n_clusters", "n_bins", "chemistry_frames"),
                     non_negative=("generated_burn_in_ps",),
                     positive=("tica_lag_ps", "msm_lag_ps", "reference_frame_ps", "generated_frame_ps", "stride_ps"))

    @classmethod
    def paper(cls, **overrides) -> "AnalysisSettings":
        """The EquiJump paper's settings (needs microseconds of reference MD)."""
        return replace(cls(tica_lag_ps=PAPER_TICA_LAG_PS, n_tics=4, n_clusters=PAPER_N_CLUSTERS,
                           msm_lag_ps=PAPER_MSM_LAG_PS, chemistry_frames=3000), **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {"data": AnalysisSettings, "paper": AnalysisSettings.paper}


@dataclass
class ResolvedSettings:
    """Every setting as used, with the lags also in frames of each ensemble."""

    tica_lag_ps: float
    tica_lag_frames: int
    n_tics: int
    n_clusters: int
    msm_lag_ps: float
    msm_lag_reference_frames: int
    msm_lag_generated_frames: int
    reference_frame_ps: float
    generated_frame_ps: float
    n_bins: int
    chemistry_frames: int
    clash_overlap_A: float
    seed: int
    chosen_from_data: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


#: Fewer frames than this in an ensemble hold no distribution to compare: its divergences would be noise.
MIN_FRAMES = 10


def check_enough_frames(ensemble: Ensemble, what: str) -> None:
    """Refuse an ensemble of fewer than ``MIN_FRAMES`` frames (the TICA and MSM refuse lags longer than every
    trajectory themselves)."""
    if ensemble.n_frames < MIN_FRAMES:
        raise AnalysisInputError(f"the {what} trajectories hold {ensemble.n_frames} frame(s) in all; the analysis "
                                 f"needs at least {MIN_FRAMES} to compare distributions (run longer)")


def whole_frames(interval_ps: float, frame_ps: float, what: str) -> int:
    frames = interval_ps / frame_ps
    if abs(frames - round(frames)) > 1e-6 * max(1.0, frames) or round(frames) < 1:
        raise ConfigError(f"{what} {interval_ps:g} ps is not a positive multiple of the frame interval "
                         f"{frame_ps:g} ps; choose one that is")
    return int(round(frames))


def strided(ensemble: Ensemble, stride_ps: float | None) -> Ensemble:
    """The ensemble with one frame kept per ``stride_ps`` (unchanged when None or not coarser)."""
    if stride_ps is None or stride_ps <= ensemble.frame_ps * (1 + 1e-6):
        return ensemble
    step = whole_frames(stride_ps, ensemble.frame_ps, "stride")
    return Ensemble([t[::step] for t in ensemble.trajectories], ensemble.frame_ps * step, ensemble.sources)


def without_burn_in(ensemble: Ensemble, burn_in_ps: float) -> Ensemble:
    """The ensemble without the first ``burn_in_ps`` of every trajectory."""
    if burn_in_ps == 0:
        return ensemble
    skip = whole_frames(burn_in_ps, ensemble.frame_ps, "generated burn-in")
    shortest = min(ensemble.lengths)
    if skip >= shortest:
        raise ConfigError(f"the generated burn-in of {burn_in_ps:g} ps leaves nothing of the shortest generated "
                          f"trajectory ({shortest} frames of {ensemble.frame_ps:g} ps); choose a shorter burn-in")
    return Ensemble([t[skip:] for t in ensemble.trajectories], ensemble.frame_ps, ensemble.sources)


def default_tica_lag_ps(reference: Ensemble) -> float:
    """The TICA lag when none is set: 1/20 of the shortest reference trajectory (at least one frame), at most
    the paper's 2 ns, in whole frames."""
    return max(1, min(min(reference.lengths) // 20, int(PAPER_TICA_LAG_PS // reference.frame_ps))) * reference.frame_ps


def resolve_settings(settings: AnalysisSettings, reference: Ensemble, generated: Ensemble) -> ResolvedSettings:
    """Fill the unset (None) settings from the data and convert lags to frames."""
    check_enough_frames(reference, "reference")
    check_enough_frames(generated, "generated")
    chosen = []
    ref_dt, gen_dt = reference.frame_ps, generated.frame_ps
    tica_lag_ps = settings.tica_lag_ps
    if tica_lag_ps is None:
        tica_lag_ps = default_tica_lag_ps(reference)
        chosen.append("tica_lag_ps")
    n_clusters = settings.n_clusters
    if n_clusters is None:
        n_clusters = int(min(PAPER_N_CLUSTERS, max(2, min(reference.n_frames, generated.n_frames) // 30)))
        chosen.append("n_clusters")
    msm_lag_ps = settings.msm_lag_ps
    if msm_lag_ps is None:
        coarse = max(ref_dt, gen_dt)
        if abs(coarse / min(ref_dt, gen_dt) - round(coarse / min(ref_dt, gen_dt))) > 1e-6:
            raise ConfigError(f"frame intervals {ref_dt:g} ps (reference) and {gen_dt:g} ps (generated) "
                             "share no common lag; set msm_lag_ps to a multiple of both")
        shortest_ps = min(min(reference.lengths) * ref_dt, min(generated.lengths) * gen_dt)
        msm_lag_ps = max(1, int(min(shortest_ps / 10, PAPER_MSM_LAG_PS) // coarse)) * coarse
        chosen.append("msm_lag_ps")
    if settings.n_tics < 2:
        raise ConfigError(f"n_tics must be at least 2 (TIC1 and TIC2 are compared), got {settings.n_tics}")
    return ResolvedSettings(
        tica_lag_ps=float(tica_lag_ps), tica_lag_frames=whole_frames(tica_lag_ps, ref_dt, "TICA lag"),
        n_tics=settings.n_tics, n_clusters=int(n_clusters), msm_lag_ps=float(msm_lag_ps),
        msm_lag_reference_frames=whole_frames(msm_lag_ps, ref_dt, "MSM lag (reference)"),
        msm_lag_generated_frames=whole_frames(msm_lag_ps, gen_dt, "MSM lag (generated)"),
        reference_frame_ps=ref_dt, generated_frame_ps=gen_dt, n_bins=settings.n_bins,
        chemistry_frames=settings.chemistry_frames, clash_overlap_A=settings.clash_overlap_A,
        seed=settings.seed, chosen_from_data=chosen)
