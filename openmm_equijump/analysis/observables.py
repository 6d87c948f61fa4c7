"""Structural observables per frame, against a native structure (all in Angstrom).

C-alpha RMSD and GDT-TS after optimal superposition onto the native C-alphas, the mass-weighted
radius of gyration of the protein heavy atoms, and the fraction of native contacts (C-alpha pairs at
least 3 residues apart that are within 8 A in the native structure; a contact is formed below 8 A).
"""
from __future__ import annotations

import mdtraj as md
import numpy as np

from ..units import ANGSTROM_PER_NM

GDT_CUTOFFS_A = (1.0, 2.0, 4.0, 8.0)


def calpha_indices(topology: md.Topology) -> np.ndarray:
    """Indices of the C-alpha atoms, one per residue in order."""
    return np.array([atom.index for atom in topology.atoms if atom.name == "CA"], dtype=int)


def calpha_rmsd_A(calphas: md.Trajectory, native_calphas: md.Trajectory) -> np.ndarray:
    """(n_frames,) C-alpha RMSD to the native structure after superposition, A."""
    return md.rmsd(calphas, native_calphas, 0) * ANGSTROM_PER_NM


def gdt_ts(calphas: md.Trajectory, native_calphas: md.Trajectory) -> np.ndarray:
    """(n_frames,) GDT-TS in [0, 1]: mean over 1, 2, 4, 8 A of the fraction of C-alphas within that
    distance of their native position, after the RMSD-optimal superposition."""
    aligned = md.Trajectory(calphas.xyz.copy(), calphas.topology).superpose(native_calphas, 0)
    deviation = np.linalg.norm(aligned.xyz - native_calphas.xyz[0], axis=-1) * ANGSTROM_PER_NM
    return np.mean([(deviation <= cutoff).mean(axis=1) for cutoff in GDT_CUTOFFS_A], axis=0)


def radius_of_gyration_A(heavy_atoms: md.Trajectory) -> np.ndarray:
    """(n_frames,) mass-weighted radius of gyration of the given atoms, A."""
    masses = np.array([atom.element.mass for atom in heavy_atoms.topology.atoms])
    return md.compute_rg(heavy_atoms, masses=masses) * ANGSTROM_PER_NM


def native_contact_pairs(native_calphas: md.Trajectory, min_separation: int = 3,
                         cutoff_A: float = 8.0) -> np.ndarray:
    """(n_contacts, 2) C-alpha index pairs at least ``min_separation`` residues apart that are within
    ``cutoff_A`` in the native structure."""
    n = native_calphas.n_atoms
    pairs = np.array([(i, j) for i in range(n) for j in range(i + min_separation, n)], dtype=int)
    if len(pairs) == 0:
        raise ValueError(f"a protein of {n} residues has no C-alpha pairs {min_separation} apart")
    distances = md.compute_distances(native_calphas, pairs)[0] * ANGSTROM_PER_NM
    contacts = pairs[distances < cutoff_A]
    if len(contacts) == 0:
        raise ValueError(f"the native structure has no C-alpha contacts within {cutoff_A} A")
    return contacts


def fraction_native_contacts(calphas: md.Trajectory, contacts: np.ndarray,
                             cutoff_A: float = 8.0) -> np.ndarray:
    """(n_frames,) fraction of the native contacts that are within ``cutoff_A`` in each frame."""
    distances = md.compute_distances(calphas, contacts) * ANGSTROM_PER_NM
    return (distances < cutoff_A).mean(axis=1)


def ramachandran_deg(trajectory: md.Trajectory) -> np.ndarray:
    """(n_frames, n_residues_with_both, 2) backbone (phi, psi) in degrees, paired by residue (each
    chain's first and last residue lack one of the two and are left out)."""
    phi_atoms, phi = md.compute_phi(trajectory, periodic=False)
    psi_atoms, psi = md.compute_psi(trajectory, periodic=False)
    psi_by_calpha = {int(atoms[1]): k for k, atoms in enumerate(psi_atoms)}
    pairs = [(k, psi_by_calpha[int(atoms[2])]) for k, atoms in enumerate(phi_atoms) if int(atoms[2]) in psi_by_calpha]
    if not pairs:
        return np.zeros((trajectory.n_frames, 0, 2))
    phi_index, psi_index = np.array(pairs).T
    return np.degrees(np.stack([phi[:, phi_index], psi[:, psi_index]], axis=-1))
