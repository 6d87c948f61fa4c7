"""Jensen-Shannon divergence of two (weighted) samples on stated bins.

JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2, natural log, so 0 <= JS <= ln 2: the package reports
this divergence. scipy.spatial.distance.jensenshannon returns its square root, a distance (0 .. 0.833), which is what
Align Your Structures reports; ``js_pair`` prints both, and every printed table and figure title uses it.
Bins: ``n_bins`` equal bins over the pooled range [min, max] of both samples.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (natural log) of two histograms; each is normalized to sum 1 first."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms of different shapes {p.shape} and {q.shape}")
    if not (p.sum() > 0 and q.sum() > 0):
        raise ValueError("cannot compare an empty histogram")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        support = a > 0
        return float(np.sum(a[support] * np.log(a[support] / m[support])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


#: How printed Jensen-Shannon values read: ``js_pair``'s "divergence / distance".
JS_PAIR_LABEL = "JS divergence / distance"


def js_distance(divergence: float) -> float:
    """The Jensen-Shannon distance, sqrt of the divergence (natural log): scipy's ``jensenshannon``."""
    return float(np.sqrt(divergence))


def js_pair(divergence: float | None) -> str:
    """A Jensen-Shannon divergence (natural log) and its distance (``js_distance``) as "0.0123 / 0.111"
    (``JS_PAIR_LABEL`` names the two); "-" for None."""
    if divergence is None:
        return "-"
    return f"{divergence:.4f} / {js_distance(divergence):.3f}"


@dataclass
class DistributionComparison:
    """One observable compared between reference and generated samples.

    lo, hi, n_bins: the bins (equal width over the pooled range). *_counts: raw frame counts per bin.
    *_reweighted: MSM-reweighted probability per bin (None when not reweighted).
    js_raw / js_reweighted: Jensen-Shannon divergences (natural log) of the raw counts and of the
    reweighted probabilities. mean_*: raw and reweighted means, in the observable's unit.
    """

    name: str
    unit: str
    lo: float
    hi: float
    n_bins: int
    reference_counts: list[int]
    generated_counts: list[int]
    js_raw: float
    mean_reference: float
    mean_generated: float
    reference_reweighted: list[float] | None = None
    generated_reweighted: list[float] | None = None
    js_reweighted: float | None = None
    mean_reference_reweighted: float | None = None
    mean_generated_reweighted: float | None = None

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.n_bins + 1)

    def to_dict(self) -> dict:
        return asdict(self)


def pooled_edges(a: np.ndarray, b: np.ndarray, n_bins: int, step: float | None = None) -> np.ndarray:
    """Equal-width edges over the pooled range of two samples.

    Continuous samples (step None): ``n_bins`` bins from the pooled min to max. Discrete samples (all
    values multiples of ``step``, e.g. clash counts, or a fraction of n contacts with step 1/n): bins
    centred on the multiples, one value per bin, or k values per bin when that keeps at most ``n_bins``.
    """
    lo = float(min(np.min(a), np.min(b)))
    hi = float(max(np.max(a), np.max(b)))
    if step is not None:
        first, last = int(np.floor(lo / step + 0.5)), int(np.floor(hi / step + 0.5))
        per_bin = max(1, int(np.ceil((last - first + 1) / n_bins)))
        count = int(np.ceil((last - first + 1) / per_bin))
        return (first - 0.5 + per_bin * np.arange(count + 1)) * step
    if hi <= lo:  # both samples one value: a unit-wide bin range around it
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def compare_samples(name: str, unit: str, reference: np.ndarray, generated: np.ndarray, n_bins: int,
                    reference_weights: np.ndarray | None = None,
                    generated_weights: np.ndarray | None = None,
                    step: float | None = None) -> DistributionComparison:
    """Histogram both samples on pooled bins (``pooled_edges``) and compute the JS divergences (raw,
    and reweighted when both weight arrays are given; weights need not be normalized)."""
    reference = np.asarray(reference, dtype=np.float64).ravel()
    generated = np.asarray(generated, dtype=np.float64).ravel()
    edges = pooled_edges(reference, generated, n_bins, step)
    n_bins = len(edges) - 1
    ref_counts = np.histogram(reference, edges)[0]
    gen_counts = np.histogram(generated, edges)[0]
    comparison = DistributionComparison(
        name=name, unit=unit, lo=float(edges[0]), hi=float(edges[-1]), n_bins=n_bins,
        reference_counts=ref_counts.tolist(), generated_counts=gen_counts.tolist(),
        js_raw=jensen_shannon(ref_counts, gen_counts),
        mean_reference=float(reference.mean()), mean_generated=float(generated.mean()))
    if reference_weights is not None and generated_weights is not None:
        ref_w = np.histogram(reference, edges, weights=reference_weights)[0]
        gen_w = np.histogram(generated, edges, weights=generated_weights)[0]
        comparison.reference_reweighted = (ref_w / ref_w.sum()).tolist()
        comparison.generated_reweighted = (gen_w / gen_w.sum()).tolist()
        comparison.js_reweighted = jensen_shannon(ref_w, gen_w)
        comparison.mean_reference_reweighted = float(np.average(reference, weights=reference_weights))
        comparison.mean_generated_reweighted = float(np.average(generated, weights=generated_weights))
    return comparison
