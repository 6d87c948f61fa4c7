"""TICA on C-alpha pairwise distances, fitted on the reference only (deeptime)."""
from __future__ import annotations

from typing import Sequence

import mdtraj as md
import numpy as np
from deeptime.decomposition import TICA


def calpha_distance_pairs(n_calphas: int) -> np.ndarray:
    """(n_pairs, 2) all C-alpha index pairs i < j."""
    return np.array([(i, j) for i in range(n_calphas) for j in range(i + 1, n_calphas)], dtype=int)


def calpha_distances(calphas: md.Trajectory) -> np.ndarray:
    """(n_frames, n_pairs) C-alpha pairwise distances in nm, the TICA input features."""
    return md.compute_distances(calphas, calpha_distance_pairs(calphas.n_atoms))


def fit_tica(features: Sequence[np.ndarray], lag_frames: int, dim: int) -> TICA:
    """Fit TICA (kinetic-map scaling) on reference feature trajectories at ``lag_frames``.

    Trajectories shorter than the lag contribute nothing; it is an error if all are.
    """
    usable = [np.asarray(f, dtype=np.float64) for f in features if len(f) > lag_frames]
    if not usable:
        raise ValueError(f"every reference trajectory is shorter than the TICA lag ({lag_frames} frames); "
                         "choose a shorter tica_lag_ps")
    return TICA(lagtime=lag_frames, dim=dim).fit(usable).fetch_model()
