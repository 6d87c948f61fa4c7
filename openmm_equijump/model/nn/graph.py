"""The kNN graph of the anchors of each protein, with the edge embeddings every convolution shares."""
from typing import Tuple

import math
import torch
from e3nn import o3
from e3nn.util.jit import compile_mode


@compile_mode("script")
class NeighbourGraph(torch.nn.Module):
    """k nearest anchors of every residue, within its own protein, and what the convolutions need of them.

    Args:
        k: neighbours per residue (fewer where the protein has fewer than k + 1 residues).
        n_radial: Gaussian radial basis functions, centred on ``linspace(0, r_max, n_radial)``.
        r_max: Angstrom; the last basis centre. Neighbours further away keep a (decaying) embedding: the graph
            is kNN, not a cutoff graph, so no neighbour is silently dropped.

    forward(P (B, N, 3) Angstrom, residue_mask (B, N) bool) returns
        index (B, N, k) int64: neighbour residue j of (b, i, slot), a valid index also where unused
        valid (B, N, k) bool: the slot holds a real neighbour (real residue, not i itself)
        radial (B, N, k, n_radial): Gaussian embedding of |P_j - P_i|
        sh (B, N, k, 4): spherical harmonics ``0e + 1e`` of the unit vector P_j - P_i ("component" norm)
    """

    def __init__(self, k: int, n_radial: int, r_max: float):
        super().__init__()
        if k < 1 or n_radial < 1 or r_max <= 0:
            raise ValueError(f"NeighbourGraph needs k >= 1, n_radial >= 1, r_max > 0; got {k}, {n_radial}, {r_max}")
        self.k = k
        self.n_radial = n_radial
        self.r_max = r_max
        self.width = r_max / max(n_radial - 1, 1)
        self.register_buffer("centres", torch.linspace(0.0, r_max, n_radial), persistent=False)
        self.sh = o3.SphericalHarmonics("0e + 1e", normalize=True, normalization="component")

    def forward(self, P: torch.Tensor, residue_mask: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        B, N = P.shape[0], P.shape[1]
        k = min(self.k, max(N - 1, 1))
        with torch.no_grad():
            distance = torch.cdist(P, P)
            pair_ok = residue_mask.unsqueeze(1) & residue_mask.unsqueeze(2)
            pair_ok = pair_ok & ~torch.eye(N, dtype=torch.bool, device=P.device).unsqueeze(0)
            distance = distance.masked_fill(~pair_ok, math.inf)
            nearest, index = torch.topk(distance, k, dim=-1, largest=False)
            valid = torch.isfinite(nearest)
        offset = (torch.arange(B, device=P.device) * N).view(B, 1, 1)
        edge = P.reshape(B * N, 3)[index + offset] - P.unsqueeze(2)
        # Unused slots get a fixed non-zero edge so the embeddings stay finite; they are masked downstream.
        edge = torch.where(valid.unsqueeze(-1), edge, torch.ones_like(edge))
        length = torch.linalg.vector_norm(edge, dim=-1, keepdim=True)
        radial = torch.exp(-(((length - self.centres.to(P.dtype)) / self.width) ** 2))
        return index, valid, radial, self.sh(edge)
