"""The EquiJump deep network: self-interaction, L blocks, aggregation, self-interaction."""
from typing import List

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .convolution import SpatialConvolution
from .irreps import hidden_irreps
from .norm import EquivariantLayerNorm
from .self_interaction import SelfInteraction


@compile_mode("script")
class Block(torch.nn.Module):
    """H <- LayerNorm(SpatialConvolution(SelfInteraction(H)) + H) on hidden features (B, N, 4H)."""

    def __init__(self, H: int, n_radial: int):
        super().__init__()
        self.self_interaction = SelfInteraction(H, hidden_irreps(H))
        self.convolution = SpatialConvolution(H, n_radial)
        self.norm = EquivariantLayerNorm(H)

    def forward(self, x: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, radial: torch.Tensor,
                sh: torch.Tensor) -> torch.Tensor:
        return self.norm(self.convolution(self.self_interaction(x), index, valid, radial, sh) + x)


@compile_mode("script")
class DeepNet(torch.nn.Module):
    """Per-residue features in, per-residue features out, on a ``NeighbourGraph`` of the anchors.

    H^0 = SelfInteraction(x); H^l = Block(H^(l-1)) for l = 1..L; out = SelfInteraction(Linear(H^1 (+) ... (+) H^L)).

    Args:
        irreps_in, irreps_out: per-residue input and output irreps (0e and 1e only).
        H: hidden multiplicity; layers: L; n_radial: radial basis size of the graph it is given.
    forward(x (B, N, irreps_in.dim), residue_mask (B, N) bool, index, valid, radial, sh from a
        ``NeighbourGraph``; several networks on the same anchors share one graph) -> (B, N, irreps_out.dim),
        zero on padded residues.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, H: int, layers: int, n_radial: int):
        super().__init__()
        if layers < 1:
            raise ValueError(f"DeepNet needs at least one block, got layers={layers}")
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.initial = SelfInteraction(H, hidden_irreps(H), irreps_in=self.irreps_in)
        self.blocks = torch.nn.ModuleList([Block(H, n_radial) for _ in range(layers)])
        self.aggregate = o3.Linear(hidden_irreps(H) * layers, hidden_irreps(H))
        self.final = SelfInteraction(H, self.irreps_out)

    def forward(self, x: torch.Tensor, residue_mask: torch.Tensor, index: torch.Tensor, valid: torch.Tensor,
                radial: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
        h = self.initial(x)
        outputs = []
        for block in self.blocks:
            h = block(h, index, valid, radial, sh)
            outputs.append(h)
        return self.finish(outputs, residue_mask)

    @torch.jit.export
    def finish(self, outputs: List[torch.Tensor], residue_mask: torch.Tensor) -> torch.Tensor:
        """The output (B, N, irreps_out.dim) from the L block outputs H^1 .. H^L, zero on padded residues."""
        out = self.final(self.aggregate(torch.cat(outputs, dim=-1)))
        return out * residue_mask.unsqueeze(-1).to(out.dtype)
