"""Covalent geometry: what the training data says it is, and the projection that restores it after a jump.

A jump generates every heavy atom at once, and a small model places atoms to a few tenths of an Angstrom: on
chignolin the bonded and 1-3 distances of a jump's output are off by 0.34 A (model v3) to 0.38 A (v2) on
average and single pairs by up to 8 A, so bonds collapse below 1 A within a jump or two. MD moves them by
~0.04 A (their standard deviation in the chignolin MD, median over the pairs). The projection puts them back:

* Reference (``covalent_geometry``): the median, over the frames of a run's data, of every constrained distance,
  keyed by residue type and atom names (``pair_keys``): bonds, 1-3 pairs and the C-alpha - C-alpha distance
  across each peptide bond (``constrained``). Backbone pairs across a peptide bond also get a key independent
  of the residue types (except proline), so a model meets new neighbours. The checkpoint stores it
  (``train``); the values come from the data the model imitates, not from a force field.
* Projection (``CovalentProjection``): after the jump, iterate a Jacobi form of SHAKE on the moved heavy atoms:
  each constrained pair is moved along its axis towards its reference distance, each other pair that is too
  close is pushed apart to its bound, and every atom takes the mean of its corrections. Bounds
  (``contact_class_names``): for pairs three bonds apart, the closest two atoms of the same two elements came in
  the data ("1-4 N-O" in ``covalent_geometry``; ``FALLBACK_MIN_DISTANCE_A`` for element pairs it never
  showed); for pairs further apart, MolProbity's serious-clash line, the sum of their van der Waals radii less
  ``SERIOUS_CLASH_OVERLAP_A``, the line ``analysis.chemistry`` counts clashes by. That line is stricter than
  MD: the chignolin MD has hydrogen-bonded oxygens at 2.4-2.6 A (the line: 2.64 A) and C...O contacts at
  2.7 A (2.82 A), 0.39 such pairs per frame; the projection lengthens them to the line. Bounding contacts by
  the data's closest approach instead let the model pile atoms up at those shorter distances: clashes JS
  0.63 against 0.02 with the line, the other divergences alike (a chignolin model trained on uniform pairs,
  20 x 100 jumps). The
  C-alpha - C-alpha distance of a peptide keeps the trans value only where the jump's start frame has it
  trans (>= ``CIS_CA_DISTANCE_A``): a cis peptide stays free. The C-alpha centroid is put back where the jump
  left it. Distances only: the projection is rotation- and translation-equivariant.

The projection is a step of this package, not of the EquiJump paper; ``SamplerConfig.projection_iterations =
0`` switches it off, and the model card gives the numbers with and without it.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from openmm.app import element
from torch import nn

from .topology import ProteinBinding
from .vocabulary import HEAVY_ATOM_ORDER, N_SLOTS, SERIOUS_CLASH_OVERLAP_A, VDW_RADIUS_A, VOCABULARY

#: A peptide whose C-alphas are closer than this (A) is cis (trans: 3.8 A, cis: 2.9 A).
CIS_CA_DISTANCE_A = 3.3
#: Closest approach (A) of two atoms three bonds apart whose elements the training data never showed so.
FALLBACK_MIN_DISTANCE_A = 2.2
#: The heavy elements of proteins, in the order of the contact classes.
ELEMENTS = ("C", "N", "O", "S", "Se")
#: Frames per trajectory that enter the reference medians (evenly spaced).
REFERENCE_FRAMES = 2000
_BACKBONE = ("N", "CA", "C", "O")


def atom_name(residue_type: int, column: int) -> str:
    """Canonical name of column ``column`` of ``ProteinBinding.atom_index`` (0 = CA) in a residue type."""
    return "CA" if column == 0 else HEAVY_ATOM_ORDER[VOCABULARY[residue_type]][column - 1]


def constrained(pairs: np.ndarray) -> np.ndarray:
    """Rows of ``ProteinBinding.covalent_pairs`` whose distance the projection holds: 1-2 and 1-3 pairs, and the
    C-alphas of consecutive residues (a peptide's, three bonds apart)."""
    peptide = (pairs[:, 1] == 0) & (pairs[:, 3] == 0) & (pairs[:, 4] == 3)
    return pairs[(pairs[:, 4] <= 2) | peptide]


def pair_keys(residue_types: Sequence[int], pairs: np.ndarray) -> List[Tuple[str, Optional[str]]]:
    """(key, generic key or None) of each row of ``constrained`` pairs.

    Key: "TYR CD1-CE1" within a residue, "TYR C-PRO N" across residues. Generic key (backbone atoms of
    different residues only): the residue types other than PRO replaced by "*", e.g. "* C-* N".
    """
    keys = []
    for ra, ca, rb, cb in pairs[:, :4].tolist():
        ta, tb = int(residue_types[ra]), int(residue_types[rb])
        na, nb = atom_name(ta, ca), atom_name(tb, cb)
        if ra == rb:
            keys.append((f"{VOCABULARY[ta]} {na}-{nb}", None))
            continue
        key = f"{VOCABULARY[ta]} {na}-{VOCABULARY[tb]} {nb}"
        generic = None
        if na in _BACKBONE and nb in _BACKBONE:
            wild = [VOCABULARY[t] if VOCABULARY[t] == "PRO" else "*" for t in (ta, tb)]
            generic = f"{wild[0]} {na}-{wild[1]} {nb}"
        keys.append((key, generic))
    return keys


def cloud_points(P: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """P (..., N, 3), V (..., N, 13, 3) -> atom positions (..., N, 14, 3): column 0 the C-alpha."""
    return torch.cat([P.unsqueeze(-2), P.unsqueeze(-2) + V], dim=-2)


def element_index(binding: ProteinBinding) -> np.ndarray:
    """(N * 14,) index into ``ELEMENTS`` of each column of the flattened ``atom_index`` (-1 where padded)."""
    index_of = {element.get_by_symbol(symbol).atomic_number: k for k, symbol in enumerate(ELEMENTS)}
    flat = binding.atom_index.reshape(-1)
    out = np.full(flat.shape, -1, dtype=np.int64)
    for slot in np.flatnonzero(flat >= 0):
        number = int(binding.atomic_numbers[flat[slot]])
        if number not in index_of:
            raise ValueError(f"atom {flat[slot]}: element {number} is not a heavy element of proteins {ELEMENTS}")
        out[slot] = index_of[number]
    return out


def contact_class_names() -> List[str]:
    """Key of each contact class: class (relation * E + a) * E + b, relation 0 = three bonds apart ("1-4"),
    1 = further ("contact"), a <= b element indices (``ELEMENTS``)."""
    return [f"{relation} {ELEMENTS[a]}-{ELEMENTS[b]}" for relation in ("1-4", "contact")
            for a in range(len(ELEMENTS)) for b in range(len(ELEMENTS))]


def one_four(pairs: np.ndarray) -> np.ndarray:
    """Rows of ``ProteinBinding.covalent_pairs`` three bonds apart that the projection does not hold."""
    return pairs[(pairs[:, 4] == 3) & ~np.isin(_codes(pairs, N_SLOTS + 1), _codes(constrained(pairs), N_SLOTS + 1))]


_CODE_BASE = 1 << 32


def _codes(rows: np.ndarray, columns: int) -> np.ndarray:
    """Pair rows (residue a, column a, residue b, column b, ...) as one int64 per pair: the flat cloud column of
    a times ``_CODE_BASE`` plus that of b."""
    return (rows[:, 0] * columns + rows[:, 1]) * _CODE_BASE + rows[:, 2] * columns + rows[:, 3]


def _pair_distances(P: torch.Tensor, V: torch.Tensor, rows: np.ndarray) -> np.ndarray:
    """(frames, pairs) distances (A) of pair rows in clouds P (F, N, 3), V (F, N, 13, 3)."""
    x = cloud_points(P, V).double()
    return (x[:, rows[:, 0], rows[:, 1]] - x[:, rows[:, 2], rows[:, 3]]).norm(dim=-1).numpy()


def covalent_geometry(proteins) -> Dict[str, float]:
    """The projection's references from the frames of ``proteins`` (``ProteinData``), A: the median of every
    held pair's distance by ``pair_keys``, and the closest approach of every 1-4 contact class seen."""
    samples: Dict[str, List[np.ndarray]] = {}
    closest: Dict[str, float] = {}
    names = contact_class_names()
    E = len(ELEMENTS)
    for protein in proteins:
        held = constrained(protein.binding.covalent_pairs)
        keys = pair_keys(protein.binding.residue_types, held)
        beyond = one_four(protein.binding.covalent_pairs)
        elements = element_index(protein.binding)
        ea = elements[beyond[:, 0] * (N_SLOTS + 1) + beyond[:, 1]]
        eb = elements[beyond[:, 2] * (N_SLOTS + 1) + beyond[:, 3]]
        classes = [names[np.minimum(a, b) * E + np.maximum(a, b)] for a, b in zip(ea, eb)]
        for trajectory in protein.trajectories:
            frames = np.unique(np.linspace(0, trajectory.n_frames - 1, REFERENCE_FRAMES).round().astype(int))
            P, V = trajectory.P[frames], trajectory.V[frames]
            d = _pair_distances(P, V, held)
            for k, (key, generic) in enumerate(keys):
                for name in (key, generic):
                    if name is not None:
                        samples.setdefault(name, []).append(d[:, k])
            for name, nearest in zip(classes, _pair_distances(P, V, beyond).min(axis=0)):
                closest[name] = min(closest.get(name, np.inf), float(nearest))
    geometry = {key: round(float(np.median(np.concatenate(values))), 4) for key, values in sorted(samples.items())}
    geometry.update({name: round(value, 4) for name, value in sorted(closest.items())})
    return geometry


class CovalentProjection(nn.Module):
    """forward(P0 (R, N, 3), P (R, N, 3), V (R, N, 13, 3)) -> (P, V), all A: the jump's end (P, V) with its
    covalent geometry restored and its contacts pushed apart to their bounds (module docstring); P0 is the
    jump's start.

    binding: the bound topology; geometry: ``covalent_geometry`` of the model's training data (held pairs whose
    key it lacks are left free: ``unreferenced`` lists them); iterations: Jacobi sweeps (0: no projection).
    The sweeps are a fixed number (no convergence test), so a replica's result does not depend on the other
    replicas of its batch; the pairs near their bound are looked up again every ``refresh`` sweeps.
    """

    __jit_ignored_attributes__ = ["unreferenced"]

    def __init__(self, binding: ProteinBinding, geometry: Mapping[str, float], iterations: int = 500):
        super().__init__()
        if iterations < 0:
            raise ValueError(f"CovalentProjection needs iterations >= 0, got {iterations}")
        columns = N_SLOTS + 1
        pairs = constrained(binding.covalent_pairs)
        keys = pair_keys(binding.residue_types, pairs)
        known = [k for k, (key, generic) in enumerate(keys) if key in geometry or generic in geometry]
        self.unreferenced = sorted({keys[k][0] for k in set(range(len(keys))) - set(known)})
        lengths = [geometry[key] if key in geometry else geometry[generic] for key, generic in
                   (keys[k] for k in known)]
        held = pairs[known]
        self.iterations = int(iterations)
        self.cis_ca_distance_A = CIS_CA_DISTANCE_A
        self.relaxation = 1.5  # over-relaxed: converges ~2x faster than plain averaging on chignolin
        self.refresh = 50
        self.skin_A = 0.05  # pushed this far beyond a bound, so what the sweeps leave unconverged stays clear of it
        self.contact_weight = 0.5  # where a contact and the covalent geometry conflict, the covalent one wins
        self.columns = columns
        self.register_buffer("pair_a", torch.as_tensor(held[:, 0] * columns + held[:, 1], dtype=torch.int64))
        self.register_buffer("pair_b", torch.as_tensor(held[:, 2] * columns + held[:, 3], dtype=torch.int64))
        self.register_buffer("length", torch.as_tensor(lengths, dtype=torch.float64).reshape(-1))
        self.register_buffer("peptide", torch.as_tensor(held[:, 4] == 3, dtype=torch.bool))
        self.register_buffer("peptide_residues", torch.as_tensor(held[held[:, 4] == 3][:, [0, 2]], dtype=torch.int64))
        self.register_buffer("mask", torch.as_tensor(binding.mask, dtype=torch.bool))
        # contact classes: the atoms' elements, whether a pair is three bonds apart, the closest approach per class
        elements = element_index(binding)
        self.register_buffer("atoms", torch.as_tensor(np.flatnonzero(elements >= 0), dtype=torch.int64))
        self.register_buffer("elements", torch.as_tensor(elements, dtype=torch.int64))
        self.code_base = _CODE_BASE
        self.register_buffer("held_codes", torch.as_tensor(np.sort(_codes(pairs, columns)), dtype=torch.int64))
        self.register_buffer("one_four_codes", torch.as_tensor(np.sort(_codes(one_four(binding.covalent_pairs),
                                                                                columns)), dtype=torch.int64))
        E = len(ELEMENTS)
        closest = [geometry.get(name, FALLBACK_MIN_DISTANCE_A) for name in contact_class_names()[:E * E]]
        closest += [VDW_RADIUS_A[ELEMENTS[a]] + VDW_RADIUS_A[ELEMENTS[b]] - SERIOUS_CLASH_OVERLAP_A
                    for a in range(E) for b in range(E)]
        self.register_buffer("closest", torch.as_tensor(closest, dtype=torch.float64))
        self.n_elements = len(ELEMENTS)
        self.search_A = float(max(closest) + 0.5)

    def forward(self, P0: torch.Tensor, P: torch.Tensor, V: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.iterations == 0:
            return P, V
        R, N = P.shape[0], P.shape[1]
        n_cloud = N * self.columns
        x = cloud_points(P, V).reshape(R, n_cloud, 3).to(torch.float64)
        start = P0.to(torch.float64)
        # a trans peptide stays trans; a cis one is left free
        ca_ca = start[:, self.peptide_residues[:, 0]] - start[:, self.peptide_residues[:, 1]]
        weight = torch.ones([R, self.length.shape[0]], dtype=x.dtype, device=x.device)
        weight[:, self.peptide] = (torch.linalg.vector_norm(ca_ca, dim=-1) >= self.cis_ca_distance_A).to(x.dtype)
        weight = weight.reshape(-1, 1)
        offsets = (torch.arange(R, device=x.device) * n_cloud).unsqueeze(1)
        held_a = (offsets + self.pair_a.unsqueeze(0)).reshape(-1)
        held_b = (offsets + self.pair_b.unsqueeze(0)).reshape(-1)
        length = self.length.unsqueeze(0).expand(R, self.length.shape[0]).reshape(-1, 1)
        x = x.reshape(R * n_cloud, 3)
        close_a = torch.zeros([0], dtype=torch.int64, device=x.device)
        close_b = torch.zeros([0], dtype=torch.int64, device=x.device)
        bound = torch.zeros([0, 1], dtype=x.dtype, device=x.device)
        count = torch.ones([R * n_cloud, 1], dtype=x.dtype, device=x.device)
        for sweep in range(self.iterations):
            if sweep % self.refresh == 0:
                close_a, close_b, bound = self._contacts(x.reshape(R, n_cloud, 3), n_cloud)
                # an atom averages over the constraints that act on it (a cis peptide's C-alphas: not that one)
                active = torch.cat([weight, torch.full([close_a.shape[0], 1], self.contact_weight, dtype=x.dtype,
                                                       device=x.device)])
                count = torch.zeros([R * n_cloud, 1], dtype=x.dtype, device=x.device)
                count.index_add_(0, torch.cat([held_a, close_a]), active)
                count.index_add_(0, torch.cat([held_b, close_b]), active)
                count = count.clamp(min=1.0)
            d = x[held_a] - x[held_b]
            r = torch.linalg.vector_norm(d, dim=-1, keepdim=True)
            step = 0.5 * (r - length) * weight / r.clamp(min=1e-6) * d
            d_close = x[close_a] - x[close_b]
            r_close = torch.linalg.vector_norm(d_close, dim=-1, keepdim=True)
            step_close = (0.5 * self.contact_weight * (r_close - bound - self.skin_A).clamp(max=0.0)
                          / r_close.clamp(min=1e-6) * d_close)
            correction = torch.zeros_like(x)
            correction.index_add_(0, held_a, -step)
            correction.index_add_(0, held_b, step)
            correction.index_add_(0, close_a, -step_close)
            correction.index_add_(0, close_b, step_close)
            x = x + self.relaxation * correction / count
        x = x.reshape(R, N, self.columns, 3)
        P_new = x[:, :, 0]
        P_new = P_new + (P.to(x.dtype) - P_new).mean(dim=1, keepdim=True)
        V_new = (x[:, :, 1:] - x[:, :, :1]) * self.mask.unsqueeze(-1).to(x.dtype)
        return P_new.to(P.dtype), V_new.to(V.dtype)

    def _contacts(self, x: torch.Tensor, n_cloud: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat indices (into (R * n_cloud)) of the pairs within ``search_A`` that are not held, and their
        bounds (P, 1): the closest approach of their contact class."""
        points = x.index_select(1, self.atoms)
        near = torch.nonzero(torch.triu(torch.cdist(points, points) < self.search_A, diagonal=1))
        a, b = self.atoms[near[:, 1]], self.atoms[near[:, 2]]
        code = a * self.code_base + b
        free = ~torch.isin(code, self.held_codes)
        a, b, code, replica = a[free], b[free], code[free], near[:, 0][free]
        ea, eb = self.elements[a], self.elements[b]
        relation = torch.isin(code, self.one_four_codes).logical_not().to(torch.int64)
        kind = (relation * self.n_elements + torch.minimum(ea, eb)) * self.n_elements + torch.maximum(ea, eb)
        offset = replica * n_cloud
        return offset + a, offset + b, self.closest[kind].unsqueeze(-1)
