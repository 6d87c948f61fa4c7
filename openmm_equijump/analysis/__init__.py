"""Judging generated dynamics against reference MD (TICA, MSM reweighting, Jensen-Shannon divergences,
chemistry checks, figures). Command line: ``python -m openmm_equijump.analyze``."""
from .compare import Comparison, Metrics, compare_dynamics
from .divergence import DistributionComparison, jensen_shannon
from .frames import (AtomMatchError, Ensemble, dcd_frame_interval_ps, ensemble_from_trajectories,
                     load_ensemble)
from .settings import AnalysisSettings

__all__ = ["AnalysisSettings", "AtomMatchError", "Comparison", "DistributionComparison", "Ensemble",
           "Metrics", "compare_dynamics", "dcd_frame_interval_ps", "ensemble_from_trajectories",
           "jensen_shannon", "load_ensemble"]
