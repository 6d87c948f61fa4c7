"""Judging generated dynamics against reference MD (TICA, MSM reweighting, Jensen-Shannon divergences,
chemistry checks, figures). Reads trajectory files through mdtraj; imports nothing of the model, the runtime
or training. One run from files: ``run.analyse_files``; command line: ``python -m openmm_equijump.analyze``."""
from .compare import Comparison, Metrics, compare_dynamics
from .divergence import DistributionComparison, jensen_shannon
from .frames import AnalysisInputError, AtomMatchError, Ensemble, ensemble_from_trajectories, load_ensemble
from .settings import AnalysisSettings

__all__ = ["AnalysisInputError", "AnalysisSettings", "AtomMatchError", "Comparison", "DistributionComparison",
           "Ensemble", "Metrics", "compare_dynamics", "ensemble_from_trajectories", "jensen_shannon",
           "load_ensemble"]
