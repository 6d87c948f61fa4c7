"""Chemical validity of heavy-atom structures: bond lengths, bond angles and clashes (Angstrom, degrees).

The bond graph is the reference topology's, restricted to protein heavy atoms. A clash is a pair of
heavy atoms more than three bonds apart whose distance is below the sum of their van der Waals radii
(Bondi) minus an allowed overlap (0.4 A by default, MolProbity's "serious clash"), so hydrogen-bonded
N...O pairs at 2.7-3.0 A are not clashes.
"""
from __future__ import annotations

from dataclasses import dataclass

import mdtraj as md
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..protein.vocabulary import VDW_RADIUS_A
from ..units import ANGSTROM_PER_NM
from .frames import AnalysisInputError


@dataclass
class BondGraph:
    """Heavy-atom geometry terms of one topology: bonds (n_bonds, 2), angles (n_angles, 3) with the
    vertex in the middle, clash pairs (n_pairs, 2) more than three bonds apart and their clash
    distances (n_pairs,) in A."""

    bonds: np.ndarray
    angles: np.ndarray
    clash_pairs: np.ndarray
    clash_distance_A: np.ndarray


def bond_graph(topology: md.Topology, clash_overlap_A: float) -> BondGraph:
    """Bonds, angles and clash pairs of a heavy-atom topology (standard bonds are created when the
    topology has none)."""
    if topology.n_bonds == 0:
        topology = topology.copy()
        topology.create_standard_bonds()
    bonds = np.array([(a.index, b.index) for a, b in topology.bonds], dtype=int)
    if len(bonds) == 0:
        raise AnalysisInputError("the reference topology has no bonds between heavy atoms; use a PDB or PSF "
                         "with standard residue and atom names")
    n = topology.n_atoms
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in bonds:
        neighbours[i].append(j)
        neighbours[j].append(i)
    angles = np.array([(a, vertex, c) for vertex in range(n) for k, a in enumerate(neighbours[vertex])
                       for c in neighbours[vertex][k + 1:]], dtype=int).reshape(-1, 3)
    adjacency = csr_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])), shape=(n, n))
    hops = dijkstra(adjacency, directed=False, unweighted=True, limit=3)
    i, j = np.triu_indices(n, k=1)
    far = ~np.isfinite(hops[i, j])  # beyond the limit: more than three bonds apart (or unconnected)
    pairs = np.stack([i[far], j[far]], axis=1)
    elements = [atom.element.symbol for atom in topology.atoms]
    unknown = sorted({e for e in elements if e not in VDW_RADIUS_A})
    if unknown:
        raise ValueError(f"no van der Waals radius for element(s) {unknown} (known: {sorted(VDW_RADIUS_A)})")
    radii = np.array([VDW_RADIUS_A[e] for e in elements])
    clash_distance = radii[pairs[:, 0]] + radii[pairs[:, 1]] - clash_overlap_A
    return BondGraph(bonds, angles, pairs, clash_distance)


def bond_lengths_A(trajectory: md.Trajectory, graph: BondGraph) -> np.ndarray:
    """(n_frames, n_bonds) heavy-atom bond lengths, A."""
    return md.compute_distances(trajectory, graph.bonds, periodic=False) * ANGSTROM_PER_NM


def bond_angles_deg(trajectory: md.Trajectory, graph: BondGraph) -> np.ndarray:
    """(n_frames, n_angles) heavy-atom bond angles, degrees."""
    return np.degrees(md.compute_angles(trajectory, graph.angles, periodic=False))


def clash_counts(trajectory: md.Trajectory, graph: BondGraph, chunk_frames: int = 256) -> np.ndarray:
    """(n_frames,) number of clashing heavy-atom pairs in each frame."""
    counts = []
    for start in range(0, trajectory.n_frames, chunk_frames):
        chunk = trajectory[start:start + chunk_frames]
        distances = md.compute_distances(chunk, graph.clash_pairs, periodic=False) * ANGSTROM_PER_NM
        counts.append((distances < graph.clash_distance_A).sum(axis=1))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=int)
