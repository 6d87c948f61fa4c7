"""One analysis run: reference MD and generated trajectories from files, compared, written to a folder.

``analyse_files`` is what ``python -m openmm_equijump.analyze`` (``cli.analyze``) runs, and what the main job
and the evaluation run on their jumps. It writes ``metrics.json`` (every number: settings, bins, counts,
divergences raw and MSM-reweighted, the noise floor) and the PNG figures. ``analyse_samples`` (``analyze
--ensemble``) compares samples without time (``analysis.ensemble``) and writes ``ensemble_metrics.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import json

import mdtraj as md

from .compare import Metrics, compare_dynamics
from .ensemble import EnsembleComparison, compare_ensembles
from .frames import AnalysisInputError, load_ensemble
from .plots import write_figures
from .report import write_metrics
from .settings import AnalysisSettings

CONFIG_NAME = "analyze_config.yaml"


@dataclass
class AnalyzeConfig:
    """Settings of one ``analyze`` run; saved as ``analyze_config.yaml`` in the output folder.

    topology: of the reference trajectories. reference, generated: trajectory files. native: the native
    structure (its C-alphas are used). generated_topology: of the generated trajectories (default: topology;
    may lack hydrogens and solvent). settings: how to compare (``AnalysisSettings``). figures: write PNGs.
    ensemble: compare the generated frames as a set of samples (``analyse_samples``): no MSM reweighting, no
    lag, no time (walk-jump chains); phi/psi and chi1 are added, chemistry and figures left out.
    """

    topology: str
    reference: list[str]
    generated: list[str]
    native: str
    out: str
    generated_topology: Optional[str] = None
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    figures: bool = True
    ensemble: bool = False


def analyse_files(reference_topology: str | Path, reference: Sequence[str | Path], generated: Sequence[str | Path],
                  generated_topology: str | Path, native: str | Path, out: str | Path,
                  settings: Optional[AnalysisSettings] = None, figures: bool = True) -> tuple[Metrics, list[Path]]:
    """Compare ``generated`` with ``reference`` and write ``out``/metrics.json (and the figures); returns
    (the metrics, the figure paths)."""
    settings = settings or AnalysisSettings()
    out = Path(out)
    if not Path(native).is_file():
        raise AnalysisInputError(f"native structure {native}: no such file")
    topology = md.load_topology(str(reference_topology))
    reference_ensemble = load_ensemble(reference, reference_topology, topology, settings.reference_frame_ps,
                                       "reference")
    generated_ensemble = load_ensemble(generated, generated_topology, topology, settings.generated_frame_ps,
                                       "generated")
    metrics = compare_dynamics(reference_ensemble, generated_ensemble, md.load(str(native)), settings)
    write_metrics(metrics, out / "metrics.json")
    return metrics, (write_figures(metrics, out) if figures else [])


def analyse_samples(reference_topology: str | Path, reference: Sequence[str | Path], generated: Sequence[str | Path],
                    generated_topology: str | Path, native: str | Path, out: str | Path,
                    settings: Optional[AnalysisSettings] = None) -> EnsembleComparison:
    """Compare the frames of ``generated`` as samples, in any order, with ``reference`` (``analysis.ensemble``)
    and write ``out``/ensemble_metrics.json. The samples' times are not read: a walk-jump DCD counts samples."""
    settings = settings or AnalysisSettings()
    if not Path(native).is_file():
        raise AnalysisInputError(f"native structure {native}: no such file")
    topology = md.load_topology(str(reference_topology))
    reference_ensemble = load_ensemble(reference, reference_topology, topology, settings.reference_frame_ps,
                                       "reference")
    samples = load_ensemble(generated, generated_topology, topology, settings.generated_frame_ps or 1.0, "generated")
    comparison = compare_ensembles(reference_ensemble, samples.trajectories, md.load(str(native)), settings)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "ensemble_metrics.json").write_text(json.dumps(comparison.to_dict(), indent=1))
    return comparison


def analyse(config: AnalyzeConfig) -> Metrics | EnsembleComparison:
    """Run ``config`` into its output folder; returns the metrics (``EnsembleComparison`` with ``ensemble``)."""
    if config.ensemble:
        return analyse_samples(config.topology, config.reference, config.generated,
                               config.generated_topology or config.topology, config.native, config.out,
                               config.settings)
    metrics, _ = analyse_files(config.topology, config.reference, config.generated,
                               config.generated_topology or config.topology, config.native, config.out,
                               config.settings, config.figures)
    return metrics
