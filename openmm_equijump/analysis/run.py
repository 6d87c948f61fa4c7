"""One analysis run: reference MD and generated trajectories from files, compared, written to a folder.

``analyse_files`` is what ``python -m openmm_equijump.analyze`` (``cli.analyze``) runs, and what the main job
and the evaluation run on their jumps. It writes ``metrics.json`` (every number: settings, bins, counts,
divergences raw and MSM-reweighted, the noise floor) and the PNG figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import mdtraj as md

from .compare import Metrics, compare_dynamics
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
    """

    topology: str
    reference: list[str]
    generated: list[str]
    native: str
    out: str
    generated_topology: Optional[str] = None
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    figures: bool = True


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


def analyse(config: AnalyzeConfig) -> Metrics:
    """Run ``config`` into its output folder; returns the metrics."""
    metrics, _ = analyse_files(config.topology, config.reference, config.generated,
                               config.generated_topology or config.topology, config.native, config.out,
                               config.settings, config.figures)
    return metrics
