"""Rebuilding the atoms the model does not move (hydrogens, the terminal OXT, caps) after a jump.

Each rebuilt atom has a frame of three moved heavy atoms (``ProteinBinding.rebuild_frame``): origin a (a
hydrogen's parent), axis b and plane c (for a hydrogen, two of the parent's heavy neighbours: HB2/HB3 on CB use
CA and CG). The atom keeps the coordinates it had in that orthonormal frame before the jump, so its distance
to a, its angle with a-b and its dihedral about a-b relative to c are preserved exactly: bond lengths to
hydrogens do not change and HBonds constraints stay satisfied. Atoms carried in one shared frame (a cap, a
carboxylate's OXT) move rigidly together.
"""
from __future__ import annotations

import torch
from torch import nn

from .topology import ProteinBinding


def _frames(x: torch.Tensor, frame_index: torch.Tensor):
    """Origins (R, M, 3) and orthonormal bases (R, M, 3, 3) (rows e1, e2, e3) of the frames, from x (R, n, 3)."""
    a = x.index_select(1, frame_index[:, 0])
    b = x.index_select(1, frame_index[:, 1])
    c = x.index_select(1, frame_index[:, 2])
    e1 = torch.nn.functional.normalize(b - a, dim=-1)
    u = c - a
    e2 = torch.nn.functional.normalize(u - (u * e1).sum(-1, keepdim=True) * e1, dim=-1)
    e3 = torch.cross(e1, e2, dim=-1)
    return a, torch.stack([e1, e2, e3], dim=-2)


class HydrogenBuilder(nn.Module):
    """Scriptable: places every rebuilt atom of ``after`` in its frame as it was in ``before``.

    forward(before (R, n_atoms, 3), after (R, n_atoms, 3)) -> (R, n_atoms, 3), same units (any length unit)
    and dtype as ``after``; computed in float64. Atoms that are not rebuilt are returned as in ``after``.
    """

    def __init__(self, binding: ProteinBinding):
        super().__init__()
        self.register_buffer("rebuilt_index", torch.as_tensor(binding.rebuilt_index, dtype=torch.int64))
        self.register_buffer("frame_index", torch.as_tensor(binding.rebuild_frame, dtype=torch.int64).reshape(-1, 3))

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        x0 = before.to(torch.float64)
        x1 = after.to(torch.float64)
        origin0, basis0 = _frames(x0, self.frame_index)
        local = torch.einsum("rmij,rmj->rmi", basis0, x0.index_select(1, self.rebuilt_index) - origin0)
        origin1, basis1 = _frames(x1, self.frame_index)
        rebuilt = origin1 + torch.einsum("rmij,rmi->rmj", basis1, local)
        return after.index_copy(1, self.rebuilt_index, rebuilt.to(after.dtype))
