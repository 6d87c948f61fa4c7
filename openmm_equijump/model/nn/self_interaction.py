"""Self-interaction: each residue's features mixed with themselves, no neighbours involved."""
from typing import Optional

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .irreps import hidden_irreps, join_hidden, split_hidden


@compile_mode("script")
class SelfInteraction(torch.nn.Module):
    """V <- Linear(MLP(scalars) * (V (+) V^2)), with V^2 the channel-wise tensor square of V.

    For hidden features ``H x 0e + H x 1e`` (scalar s_c, vector u_c in channel c) the channel-wise square
    restricted to ``0e + 1e`` is s_c^2 (0e), s_c u_c (1e) and u_c . u_c (0e); its other 1e path, u_c x u_c,
    vanishes. So V (+) V^2 is ``3H x 0e + 2H x 1e``; a scalar MLP of its 3H scalars gates all 5H channels
    (the only nonlinearity), and an e3nn Linear maps the result to ``irreps_out``.

    Args:
        H: multiplicity of the hidden irreps.
        irreps_out: output irreps (only 0e and 1e).
        irreps_in: input irreps (0e and 1e) when they are not the hidden ones; a Linear maps them to the
            hidden irreps first, so that the square stays channel-wise.
    forward: x (..., irreps_in.dim) -> (..., irreps_out.dim)
    """

    def __init__(self, H: int, irreps_out: o3.Irreps, irreps_in: Optional[o3.Irreps] = None):
        super().__init__()
        hidden = hidden_irreps(H)
        self.H = H
        self.irreps_in = o3.Irreps(irreps_in) if irreps_in is not None else hidden
        self.irreps_out = o3.Irreps(irreps_out)
        self.to_hidden = o3.Linear(self.irreps_in, hidden) if self.irreps_in != hidden else torch.nn.Identity()
        self.gate = torch.nn.Sequential(
            torch.nn.Linear(3 * H, H), torch.nn.SiLU(), torch.nn.Linear(H, 5 * H),
        )
        self.linear = o3.Linear(o3.Irreps(f"{3 * H}x0e + {2 * H}x1e"), self.irreps_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, u = split_hidden(self.to_hidden(x), self.H)
        scalars = torch.cat([s, s * s, (u * u).sum(-1)], dim=-1)
        vectors = torch.cat([u, s.unsqueeze(-1) * u], dim=-2)
        gates = self.gate(scalars)
        scalars = scalars * gates[..., : 3 * self.H]
        vectors = vectors * gates[..., 3 * self.H:].unsqueeze(-1)
        return self.linear(join_hidden(scalars, vectors))
