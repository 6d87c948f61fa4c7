"""Positions of a whole System <-> the tensor cloud of its protein: THE unit boundary (nm <-> Angstrom).

OpenMM positions are in nm; the tensor cloud is in Angstrom: ``P`` (R, N, 3) C-alpha positions and ``V``
(R, N, 13, 3) vectors from the C-alpha to the other heavy atoms in the canonical order of
``vocabulary.HEAVY_ATOM_ORDER``, exactly zero at padded slots. Nothing else on the model's path converts
units (the factor itself lives in ``units``).
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np
import torch
from torch import nn

from ..units import ANGSTROM_PER_NM
from .topology import ProteinBinding
from .vocabulary import N_SLOTS

Array = Union[np.ndarray, torch.Tensor]


class TensorCloudMap(nn.Module):
    """Scriptable gather/scatter between System positions (nm) and the tensor cloud (Angstrom).

    Built from a ``ProteinBinding``; its index buffers follow the module across devices. Works in the dtype of
    its inputs (float64 gives an exact round trip up to rounding of the nm <-> Angstrom scaling).
    """

    def __init__(self, binding: ProteinBinding):
        super().__init__()
        atom_index = torch.as_tensor(binding.atom_index, dtype=torch.int64)
        self.n_atoms = int(binding.n_atoms)
        self.angstrom_per_nm = ANGSTROM_PER_NM
        self.n_slots = N_SLOTS
        self.register_buffer("anchor_index", atom_index[:, 0].clone())
        self.register_buffer("slot_index", atom_index[:, 1:].clamp(min=0))
        self.register_buffer("mask", torch.as_tensor(binding.mask, dtype=torch.bool))
        self.register_buffer("residue_types", torch.as_tensor(binding.residue_types, dtype=torch.int64))
        # Where each moved atom sits in the (N * 14) flattened cloud of [anchor, 13 slots] per residue.
        flat = atom_index.reshape(-1)
        self.register_buffer("moved_atoms", flat[flat >= 0].clone())
        self.register_buffer("moved_cloud_slots", torch.nonzero(flat >= 0).reshape(-1))

    @torch.jit.export
    def to_cloud(self, positions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """positions (R, n_atoms, 3) nm -> P (R, N, 3) Angstrom, V (R, N, 13, 3) Angstrom (zero where ~mask)."""
        x = positions * self.angstrom_per_nm
        P = x.index_select(1, self.anchor_index)
        n_residues = self.slot_index.shape[0]
        atoms = x.index_select(1, self.slot_index.reshape(-1)).reshape(x.shape[0], n_residues, self.n_slots, 3)
        V = (atoms - P.unsqueeze(2)) * self.mask.unsqueeze(-1).to(x.dtype)
        return P, V

    @torch.jit.export
    def to_positions(self, P: torch.Tensor, V: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        """P (R, N, 3) A, V (R, N, 13, 3) A, template (R, n_atoms, 3) nm -> positions (R, n_atoms, 3) nm.

        The moved heavy atoms come from the cloud; every other atom is copied from ``template``. Output dtype
        is the template's.
        """
        cloud = torch.cat([P.unsqueeze(2), P.unsqueeze(2) + V], dim=2).reshape(P.shape[0], -1, 3)
        moved = cloud.index_select(1, self.moved_cloud_slots).to(template.dtype) / self.angstrom_per_nm
        return template.index_copy(1, self.moved_atoms, moved)


def _as_batched_tensor(x: Array) -> Tuple[torch.Tensor, bool]:
    t = torch.as_tensor(x)
    return (t.unsqueeze(0), True) if t.dim() == 2 else (t, False)


def tensor_cloud_from_positions(positions: Array, binding: ProteinBinding) -> Tuple[Array, Array]:
    """positions (n_atoms, 3) or (R, n_atoms, 3) nm -> (P, V) in Angstrom, same batching and array type
    (numpy in, numpy out; torch in, torch out). An mdtraj trajectory's ``xyz`` is such an array."""
    x, unbatched = _as_batched_tensor(positions)
    P, V = TensorCloudMap(binding).to(x.device).to_cloud(x)
    if unbatched:
        P, V = P[0], V[0]
    if isinstance(positions, np.ndarray):
        return P.numpy(), V.numpy()
    return P, V


def positions_from_tensor_cloud(P: Array, V: Array, template: Array, binding: ProteinBinding) -> Array:
    """(P, V) in Angstrom + template positions nm -> positions nm; moved heavy atoms from the cloud, all other
    atoms copied from ``template`` (hydrogens are NOT rebuilt here: see ``hydrogens.HydrogenBuilder``)."""
    t, unbatched = _as_batched_tensor(template)
    P_t = torch.as_tensor(P)
    V_t = torch.as_tensor(V)
    if unbatched:
        P_t, V_t = P_t.unsqueeze(0), V_t.unsqueeze(0)
    out = TensorCloudMap(binding).to(t.device).to_positions(P_t, V_t, t)
    if unbatched:
        out = out[0]
    return out.numpy() if isinstance(template, np.ndarray) else out
