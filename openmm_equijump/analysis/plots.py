"""Figures a person looks at (PNG, matplotlib Agg): free energies, chemistry histograms, Ramachandran.

Free energies are -ln p in units of kT, shifted to a minimum of 0, from MSM-reweighted histograms;
empty bins are left blank.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .compare import Metrics  # noqa: E402
from .divergence import JS_PAIR_LABEL, js_pair  # noqa: E402

LABELS = {"rmsd": "C-alpha RMSD to native (A)", "rg": "radius of gyration (A)",
          "fnc": "fraction of native contacts", "gdt_ts": "GDT-TS", "tic1": "TIC1", "tic2": "TIC2",
          "bond_length": "heavy-atom bond length (A)", "bond_angle": "heavy-atom bond angle (deg)",
          "clashes": "clashing heavy-atom pairs per frame", "phi_psi": "backbone phi/psi (per residue)",
          "chi1": "side-chain chi1 (per residue)"}


def _free_energy(probability: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        energy = -np.log(probability)
    finite = np.isfinite(energy)
    if finite.any():
        energy[finite] -= energy[finite].min()
    energy[~finite] = np.nan
    return energy


def plot_tica_free_energy(metrics: Metrics, path: Path, n_bins: int = 40) -> None:
    """TIC1 x TIC2 free energy (MSM-reweighted), reference and generated side by side on one grid."""
    ref, gen = metrics.reference, metrics.generated
    both = np.concatenate([np.concatenate(ref.tics)[:, :2], np.concatenate(gen.tics)[:, :2]])
    edges = [np.linspace(both[:, k].min(), both[:, k].max(), n_bins + 1) for k in range(2)]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
    energies = []
    for observed in (ref, gen):
        tics = np.concatenate(observed.tics)
        histogram = np.histogram2d(tics[:, 0], tics[:, 1], edges, weights=observed.weights)[0]
        energies.append(_free_energy(histogram / histogram.sum()))
    top = np.nanmax([np.nanmax(e) for e in energies])
    for axis, energy, title in zip(axes, energies, ("reference", "generated")):
        image = axis.pcolormesh(edges[0], edges[1], energy.T, cmap="viridis", vmin=0, vmax=top)
        axis.set_title(f"{title} (MSM-reweighted)")
        axis.set_xlabel("TIC1")
    axes[0].set_ylabel("TIC2")
    figure.colorbar(image, ax=axes, label="free energy (kT)")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_free_energies_1d(metrics: Metrics, path: Path) -> None:
    """1-D free energies of RMSD, Rg and FNC: reference and generated, raw and MSM-reweighted."""
    names = ("rmsd", "rg", "fnc")
    figure, axes = plt.subplots(1, len(names), figsize=(13, 3.8))
    for axis, name in zip(axes, names):
        comparison = metrics.comparison.observables[name]
        centres = 0.5 * (comparison.edges[1:] + comparison.edges[:-1])
        for values, label, style in (
                (comparison.reference_reweighted, "reference", ".-"),
                (comparison.generated_reweighted, "generated", ".-"),
                (np.array(comparison.generated_counts) / sum(comparison.generated_counts), "generated, raw", ".:")):
            axis.plot(centres, _free_energy(np.asarray(values, dtype=float)), style, label=label, markersize=4)
        axis.set_xlabel(LABELS[name])
        axis.set_title(f"{JS_PAIR_LABEL}\n{js_pair(comparison.js_reweighted)} (raw {js_pair(comparison.js_raw)})",
                       fontsize=9)
    _save_panels(figure, axes, "free energy (kT)", path)


def _save_panels(figure, axes, ylabel: str, path: Path) -> None:
    """Label the first panel's y axis, put the legend there, and write the figure to ``path``."""
    axes[0].set_ylabel(ylabel)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_chemistry(metrics: Metrics, path: Path) -> None:
    """Histograms of heavy-atom bond lengths, bond angles and clash counts, reference vs generated."""
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for axis, (name, comparison) in zip(axes, metrics.comparison.chemistry.items()):
        edges = comparison.edges
        for counts, label in ((comparison.reference_counts, "reference"),
                              (comparison.generated_counts, "generated")):
            counts = np.asarray(counts, dtype=float)
            axis.stairs(counts / counts.sum(), edges, label=label)
        axis.set_xlabel(LABELS[name])
        axis.set_title(f"{JS_PAIR_LABEL} {js_pair(comparison.js_raw)}", fontsize=9)
    _save_panels(figure, axes, "fraction", path)


def plot_ramachandran(metrics: Metrics, path: Path) -> None:
    """Backbone phi/psi of all inner residues, reference and generated side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
    edges = np.linspace(-180, 180, 73)
    for axis, observed, title in zip(axes, (metrics.reference, metrics.generated), ("reference", "generated")):
        angles = np.concatenate(observed.phi_psi).reshape(-1, 2)
        histogram = np.histogram2d(angles[:, 0], angles[:, 1], [edges, edges])[0]
        axis.pcolormesh(edges, edges, _free_energy(histogram / histogram.sum()).T, cmap="viridis")
        axis.set_title(f"{title}: phi/psi, free energy (kT)")
        axis.set_xlabel("phi (deg)")
    axes[0].set_ylabel("psi (deg)")
    figure.savefig(path, dpi=110)
    plt.close(figure)


FIGURES = {"tica_free_energy.png": plot_tica_free_energy,
           "free_energy_1d.png": plot_free_energies_1d,
           "chemistry.png": plot_chemistry,
           "ramachandran.png": plot_ramachandran}


def write_figures(metrics: Metrics, directory: Path) -> list[Path]:
    """Write every figure into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, plot in FIGURES.items():
        plot(metrics, directory / name)
        paths.append(directory / name)
    return paths


def plot_divergence_curves(curves: dict[str, dict[str, list[float]]], noise_floor: dict[str, float],
                           path: Path) -> None:
    """JS divergence against CPU seconds, one panel per observable, one line per sampler (``curves``: label ->
    ``analysis.ensemble.divergence_curve``), the reference's noise floor as a dashed line."""
    names = [n for n in next(iter(curves.values())) if n not in ("cpu_seconds", "samples")]
    columns = 4
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for label, curve in curves.items():
            ax.plot(curve["cpu_seconds"], curve[name], marker="o", markersize=3, label=label)
        if name in noise_floor:
            ax.axhline(noise_floor[name], color="grey", linestyle="--", label="MD noise floor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(LABELS.get(name, name), fontsize=10)
        ax.set_xlabel("CPU seconds")
        ax.set_ylabel("JS divergence to reference")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
