"""Did a run blow up? Finite positions, C-alpha chain geometry and heavy-atom overlaps, per frame."""
from __future__ import annotations

import mdtraj as md
import numpy as np

#: Consecutive C-alphas of a protein chain sit 3.8 A apart (trans peptide); the band allowed around it.
CA_CA_A, CA_CA_TOLERANCE_A = 3.8, 0.5
#: Two heavy atoms closer than this have collapsed onto each other.
CLOSEST_HEAVY_A = 1.0


def consecutive_calpha_pairs(topology: md.Topology) -> np.ndarray:
    """(M, 2) atom indices of C-alphas of consecutive residues within each chain."""
    pairs = []
    for chain in topology.chains:
        calphas = [a.index for r in chain.residues for a in r.atoms if a.name == "CA"]
        pairs += list(zip(calphas[:-1], calphas[1:]))
    return np.array(pairs, dtype=int).reshape(-1, 2)


def stability_report(trajectory: md.Trajectory) -> dict:
    """Counts of frames that break each criterion, the first frame that breaks any (None if none), and the
    extreme values seen (distances in A).

    Criteria: every coordinate finite; consecutive C-alphas within CA_CA_A +/- CA_CA_TOLERANCE_A; no two heavy
    atoms closer than CLOSEST_HEAVY_A. Distances ignore any periodic box.
    """
    finite = np.isfinite(trajectory.xyz).all(axis=(1, 2))
    ca_ca = md.compute_distances(trajectory, consecutive_calpha_pairs(trajectory.topology), periodic=False) * 10.0
    heavy = trajectory.topology.select("not element H")
    pairs = np.array([(i, j) for n, i in enumerate(heavy) for j in heavy[n + 1:]])
    closest = md.compute_distances(trajectory, pairs, periodic=False).min(axis=1) * 10.0
    bad = ~finite | (np.abs(ca_ca - CA_CA_A) > CA_CA_TOLERANCE_A).any(axis=1) | (closest < CLOSEST_HEAVY_A)
    return {
        "frames": int(trajectory.n_frames),
        "first_bad_frame": int(np.argmax(bad)) if bad.any() else None,
        "non_finite_frames": int((~finite).sum()),
        "ca_ca_outside_band_frames": int((np.abs(ca_ca - CA_CA_A) > CA_CA_TOLERANCE_A).any(axis=1).sum()),
        "ca_ca_range_A": [float(np.nanmin(ca_ca)), float(np.nanmax(ca_ca))],
        "heavy_atoms_closer_than_1A_frames": int((closest < CLOSEST_HEAVY_A).sum()),
        "closest_heavy_pair_A": float(np.nanmin(closest)),
    }
