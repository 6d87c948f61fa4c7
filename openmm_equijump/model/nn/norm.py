"""Equivariant layer norm of hidden features."""
import torch
from e3nn.util.jit import compile_mode

from .irreps import join_hidden, split_hidden


@compile_mode("script")
class EquivariantLayerNorm(torch.nn.Module):
    """Per residue: scalars standardized over the H channels (then scale and shift), vectors divided by their
    root-mean-square norm over the H channels (then a per-channel scale). Rotations commute with both.

    forward: x (..., 4H) hidden features -> (..., 4H)
    """

    def __init__(self, H: int, eps: float = 1e-5):
        super().__init__()
        self.H = H
        self.eps = eps
        self.scalar_weight = torch.nn.Parameter(torch.ones(H))
        self.scalar_bias = torch.nn.Parameter(torch.zeros(H))
        self.vector_weight = torch.nn.Parameter(torch.ones(H))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, u = split_hidden(x, self.H)
        s = s - s.mean(-1, keepdim=True)
        s = s * torch.rsqrt((s * s).mean(-1, keepdim=True) + self.eps)
        u = u * torch.rsqrt((u * u).sum(-1).mean(-1, keepdim=True) + self.eps).unsqueeze(-1)
        return join_hidden(s * self.scalar_weight + self.scalar_bias, u * self.vector_weight.unsqueeze(-1))
