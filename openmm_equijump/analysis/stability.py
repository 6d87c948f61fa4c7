"""Did a run blow up? Finite positions, C-alpha chain geometry and heavy-atom overlaps, per frame."""
from __future__ import annotations

import mdtraj as md
import numpy as np

from ..units import ANGSTROM_PER_NM

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


def chain_and_contacts_A(trajectory: md.Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the consecutive C-alpha distances (frames, pairs) and the closest heavy-atom pair (frames,),
    in A, ignoring any periodic box."""
    pairs_ca = consecutive_calpha_pairs(trajectory.topology)
    ca_ca = md.compute_distances(trajectory, pairs_ca, periodic=False) * ANGSTROM_PER_NM
    heavy = trajectory.topology.select("not element H")
    pairs = np.array([(i, j) for n, i in enumerate(heavy) for j in heavy[n + 1:]])
    return ca_ca, md.compute_distances(trajectory, pairs, periodic=False).min(axis=1) * ANGSTROM_PER_NM


def stability_report(trajectory: md.Trajectory) -> dict:
    """Counts of frames that break each criterion, the first frame that breaks any (None if none), and the
    extreme values seen (distances in A).

    Criteria: every coordinate finite; consecutive C-alphas within CA_CA_A +/- CA_CA_TOLERANCE_A; no two heavy
    atoms closer than CLOSEST_HEAVY_A. Distances ignore any periodic box.
    """
    finite = np.isfinite(trajectory.xyz).all(axis=(1, 2))
    ca_ca, closest = chain_and_contacts_A(trajectory)
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


def stability_by_frame(replicas: list[md.Trajectory], frames: list[int]) -> list[dict]:
    """Pooled over replicas (same topology, same number of frames), at each 0-based frame index of ``frames``:
    how many replicas are finite and how many meet every criterion of ``stability_report`` at that frame,
    consecutive C-alpha distances of the finite ones (mean, standard deviation and share within the band, A)
    and their median C-alpha radius of gyration (A)."""
    rows = []
    for frame in frames:
        snapshot = md.join([r[frame] for r in replicas], check_topology=False)
        finite = np.isfinite(snapshot.xyz).all(axis=(1, 2))
        row = {"frame": int(frame), "replicas": len(replicas), "finite": int(finite.sum()), "sound": 0}
        if finite.any():
            alive = snapshot[finite]
            ca_ca, closest = chain_and_contacts_A(alive)
            in_band = np.abs(ca_ca - CA_CA_A) <= CA_CA_TOLERANCE_A
            calphas = alive.topology.select("name CA")
            rg = md.compute_rg(alive.atom_slice(calphas)) * ANGSTROM_PER_NM
            row.update(sound=int((in_band.all(axis=1) & (closest >= CLOSEST_HEAVY_A)).sum()),
                       ca_ca_mean_A=float(ca_ca.mean()), ca_ca_std_A=float(ca_ca.std()),
                       ca_ca_in_band=float(in_band.mean()), closest_heavy_pair_A=float(closest.min()),
                       calpha_rg_median_A=float(np.median(rg)))
        rows.append(row)
    return rows


def stability_table(rows: list[dict]) -> str:
    """``stability_by_frame`` rows as a markdown table, one column per frame (labelled as jump = frame + 1)."""
    def cell(row: dict, key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "-"

    lines = ["| after jump | " + " | ".join(str(r["frame"] + 1) for r in rows) + " |",
             "|---|" + "---|" * len(rows),
             "| replicas finite | " + " | ".join(f"{r['finite']} / {r['replicas']}" for r in rows) + " |",
             "| replicas meeting every criterion | " + " | ".join(f"{r['sound']} / {r['replicas']}" for r in rows)
             + " |",
             "| consecutive C-alpha distance (A) | " + " | ".join(
                 f"{r['ca_ca_mean_A']:.2f} +/- {r['ca_ca_std_A']:.2f}" if "ca_ca_mean_A" in r else "-" for r in rows)
             + " |",
             f"| share within {CA_CA_A} +/- {CA_CA_TOLERANCE_A} A | " + " | ".join(
                 f"{100 * r['ca_ca_in_band']:.0f} %" if "ca_ca_in_band" in r else "-" for r in rows) + " |",
             "| closest heavy-atom pair (A) | " + " | ".join(cell(r, "closest_heavy_pair_A", ".2f") for r in rows)
             + " |",
             "| C-alpha radius of gyration, median (A) | " + " | ".join(cell(r, "calpha_rg_median_A", ".1f")
                                                                     for r in rows) + " |"]
    return "\n".join(lines)
