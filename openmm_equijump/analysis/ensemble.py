"""Ensembles without time: a set of samples (e.g. walk-jump chains) against reference MD, with no MSM
reweighting and no lag on the samples, and how fast a sampler's divergence falls with the CPU time it spends.

Compared (raw Jensen-Shannon divergences, natural log): TIC1 and TIC2 (TICA fitted on the reference), C-alpha
RMSD to native, radius of gyration and fraction of native contacts, each on ``n_bins`` pooled bins; backbone
phi/psi per residue on a 2D grid of ``PHI_PSI_BIN_DEG`` bins and side-chain chi1 per residue on
``CHI1_BIN_DEG`` bins, averaged over residues ("phi_psi", "chi1"). The noise floor compares two halves of the
reference made of independent trajectories (``compare.split_reference``). AYS-style JS distances are
``sqrt`` of these divergences.
"""
from __future__ import annotations

from dataclasses import dataclass

import mdtraj as md
import numpy as np

from .compare import ReferenceFit, fit_reference, split_reference
from .divergence import JS_PAIR_LABEL, compare_samples, jensen_shannon, js_distance, js_pair
from .frames import Ensemble
from .observables import calpha_rmsd_A, fraction_native_contacts, radius_of_gyration_A, ramachandran_deg
from .settings import AnalysisSettings, resolve_settings
from .tica import calpha_distances

#: name -> unit of the per-sample observables of an ensemble comparison.
ENSEMBLE_OBSERVABLES = {"tic1": "kinetic-map TIC", "tic2": "kinetic-map TIC", "rmsd": "A", "rg": "A",
                        "fnc": "fraction", "phi_psi": "deg (per residue, 2D)", "chi1": "deg (per residue)"}
PHI_PSI_BIN_DEG = 20.0
CHI1_BIN_DEG = 10.0


def chi1_deg(trajectory: md.Trajectory) -> np.ndarray:
    """(n_frames, n_residues with a chi1) side-chain chi1 in degrees (heavy atoms suffice)."""
    _, chi1 = md.compute_chi1(trajectory, periodic=False)
    return np.degrees(chi1)


@dataclass
class SampleValues:
    """Per-sample observables of one set of structures: values[name] (n,), phi_psi (n, residues, 2) and chi1
    (n, residues) in degrees."""

    values: dict[str, np.ndarray]
    phi_psi: np.ndarray
    chi1: np.ndarray

    def __len__(self) -> int:
        return len(self.values["rmsd"])

    def first(self, n: int) -> "SampleValues":
        """The first ``n`` samples."""
        return SampleValues({k: v[:n] for k, v in self.values.items()}, self.phi_psi[:n], self.chi1[:n])


def sample_values(trajectories: list[md.Trajectory], fit: ReferenceFit) -> SampleValues:
    """The observables of every frame of ``trajectories`` (heavy atoms in the analysis order), pooled in order."""
    xyz = np.concatenate([t.xyz for t in trajectories])
    frames = md.Trajectory(xyz, trajectories[0].topology)
    calphas = frames.atom_slice(fit.calphas)
    tics = fit.tica.transform(calpha_distances(calphas))
    values = {"tic1": tics[:, 0], "tic2": tics[:, 1], "rmsd": calpha_rmsd_A(calphas, fit.native_calphas),
              "rg": radius_of_gyration_A(frames), "fnc": fraction_native_contacts(calphas, fit.contacts)}
    return SampleValues(values, ramachandran_deg(frames), chi1_deg(frames))


def angular_js(reference: np.ndarray, generated: np.ndarray, bin_deg: float) -> float:
    """Mean over residues of the JS divergence of per-residue angle histograms on [-180, 180) degrees:
    reference, generated (n, residues) for one angle or (n, residues, 2) for a joint (phi, psi) histogram."""
    edges = np.linspace(-180.0, 180.0, int(round(360.0 / bin_deg)) + 1)
    divergences = []
    for residue in range(reference.shape[1]):
        if reference.ndim == 2:
            p = np.histogram(reference[:, residue], edges)[0]
            q = np.histogram(generated[:, residue], edges)[0]
        else:
            p = np.histogram2d(reference[:, residue, 0], reference[:, residue, 1], [edges, edges])[0]
            q = np.histogram2d(generated[:, residue, 0], generated[:, residue, 1], [edges, edges])[0]
        divergences.append(jensen_shannon(p, q))
    return float(np.mean(divergences)) if divergences else float("nan")


def ensemble_divergences(reference: SampleValues, generated: SampleValues, n_bins: int) -> dict[str, float]:
    """Raw JS divergence of every ``ENSEMBLE_OBSERVABLES`` entry between two sets of samples."""
    result = {name: compare_samples(name, ENSEMBLE_OBSERVABLES[name], reference.values[name],
                                    generated.values[name], n_bins).js_raw for name in reference.values}
    result["phi_psi"] = angular_js(reference.phi_psi, generated.phi_psi, PHI_PSI_BIN_DEG)
    result["chi1"] = angular_js(reference.chi1, generated.chi1, CHI1_BIN_DEG)
    return result


@dataclass
class EnsembleComparison:
    """Samples against reference MD: divergences, the noise floor of two independent reference halves, and the
    fitted reference (for ``divergence_curve``)."""

    divergences: dict[str, float]
    noise_floor: dict[str, float]
    noise_floor_split: str
    reference_frames: int
    generated_frames: int
    fit: ReferenceFit
    reference_values: SampleValues

    def to_dict(self) -> dict:
        return {"mode": "ensemble (no MSM reweighting, no lag on the samples)",
                "units": {**ENSEMBLE_OBSERVABLES, "divergence": "Jensen-Shannon, natural log (0 .. ln 2)"},
                "divergences": self.divergences, "js_distances": {k: js_distance(v) for k, v in
                                                                  self.divergences.items()},
                "noise_floor": self.noise_floor, "noise_floor_split": self.noise_floor_split,
                "reference_frames": self.reference_frames, "generated_frames": self.generated_frames}


def compare_ensembles(reference: Ensemble, samples: list[md.Trajectory], native: md.Trajectory,
                      settings: AnalysisSettings | None = None) -> EnsembleComparison:
    """Judge ``samples`` (heavy atoms, analysis order; their frame order does not matter) against the reference
    MD ensemble: TICA is fitted on the reference with the usual settings (``analysis.settings``)."""
    settings = settings or AnalysisSettings()
    resolved = resolve_settings(settings, reference, reference)
    fit = fit_reference(reference, native, resolved)
    reference_values = sample_values(reference.trajectories, fit)
    generated = sample_values(samples, fit)
    part_a, part_b, how = split_reference(reference)
    floor = ensemble_divergences(sample_values(part_b.trajectories, fit), sample_values(part_a.trajectories, fit),
                                 resolved.n_bins)
    return EnsembleComparison(ensemble_divergences(reference_values, generated, resolved.n_bins), floor, how,
                              len(reference_values), len(generated), fit, reference_values)


def ensemble_summary(comparison: EnsembleComparison) -> str:
    """The divergences of an ensemble comparison next to their noise floor, as a table to print."""
    lines = [f"ensembles (no MSM reweighting, no lag): reference {comparison.reference_frames} frames, samples "
             f"{comparison.generated_frames}",
             f"{JS_PAIR_LABEL} (distance = sqrt(divergence), scipy's jensenshannon)",
             f"{'':<14}{'samples':>17}{'noise floor':>17}"]
    for name, value in comparison.divergences.items():
        lines.append(f"{name:<14}{js_pair(value):>17}{js_pair(comparison.noise_floor[name]):>17}")
    lines.append(f"noise floor: two halves of the reference ({comparison.noise_floor_split})")
    return "\n".join(lines)


def divergence_curve(reference: SampleValues, generated: SampleValues, cpu_seconds: np.ndarray, n_bins: int,
                     points: int = 20) -> dict[str, list[float]]:
    """How the divergences of the first k samples fall with the CPU seconds spent making them.

    generated: samples in the order they were made; cpu_seconds (n,): CPU seconds spent when sample i was
    made. Returns {"cpu_seconds": [...], name: [...] for every observable} at ``points`` prefix lengths spaced
    evenly in log between 10 samples and all of them.
    """
    n = len(generated)
    sizes = np.unique(np.geomspace(min(10, n), n, points).astype(int))
    curve: dict[str, list[float]] = {"cpu_seconds": [float(cpu_seconds[k - 1]) for k in sizes],
                                     "samples": sizes.tolist()}
    for k in sizes:
        for name, value in ensemble_divergences(reference, generated.first(int(k)), n_bins).items():
            curve.setdefault(name, []).append(value)
    return curve
