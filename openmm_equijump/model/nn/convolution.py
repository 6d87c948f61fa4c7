"""Spatial convolution: messages from the k nearest residues."""
import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .irreps import hidden_irreps


def _cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u x v over the last axis, broadcasting (``torch.linalg.cross`` would need v expanded to u's shape)."""
    ux, uy, uz = u.unbind(-1)
    vx, vy, vz = v.unbind(-1)
    return torch.stack([uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx], dim=-1)


@compile_mode("script")
class SpatialConvolution(torch.nn.Module):
    """V_i <- Linear(V_i + mean_j [MLP(R_ij (+) s_j (+) s_i) * Linear(V_j (x) Y(P_j - P_i))]).

    V_j (x) Y is the channel-wise tensor product of neighbour j's hidden features (s_j, u_j) with the
    spherical harmonics Y = (Y0, Y1) (``0e + 1e``) of the edge, kept to ``0e + 1e``: its paths are s Y0 and
    u . Y1 (0e), s Y1, u Y0 and u x Y1 (1e; the cross product is what makes the network chiral). Each path is
    linear in V_j, so Linear(V_j (x) Y) = sum over paths of path(Linear_path(V_j), Y): the linear maps run once
    per residue (one e3nn Linear to ``2H x 0e + 3H x 1e``), and only the cheap contractions with Y run per
    edge. An MLP of the radial embedding and both residues' scalars gates the H scalar and H vector channels of
    each message; the mean runs over the valid neighbours only (padded residues and missing neighbours
    contribute nothing).

    forward(x (B, N, 4H), index, valid, radial, sh from ``NeighbourGraph``) -> (B, N, 4H)
    """

    def __init__(self, H: int, n_radial: int):
        super().__init__()
        hidden = hidden_irreps(H)
        self.H = H
        # per residue: a (0e -> 0e via Y0), c (0e -> 1e via Y1); b (1e -> 0e via . Y1), d (1e via Y0), e (x Y1)
        self.paths = o3.Linear(hidden, o3.Irreps(f"{2 * H}x0e + {3 * H}x1e"))
        self.gate = torch.nn.Sequential(
            torch.nn.Linear(n_radial + 2 * H, H), torch.nn.SiLU(), torch.nn.Linear(H, 2 * H),
        )
        self.update = o3.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, radial: torch.Tensor,
                sh: torch.Tensor) -> torch.Tensor:
        B, N, k = index.shape
        H = self.H
        offset = (torch.arange(B, device=x.device) * N).view(B, 1, 1)
        flat_index = index + offset
        node = torch.cat([x[..., :H], self.paths(x)], dim=-1)  # s, then a, c, b, d, e: (B, N, 12H)
        p = node.reshape(B * N, node.shape[-1])[flat_index]
        s_j, a, c = p[..., :H], p[..., H: 2 * H], p[..., 2 * H: 3 * H]
        vectors = p[..., 3 * H:].reshape(B, N, k, 3 * H, 3)
        b, d, e = vectors[..., :H, :], vectors[..., H: 2 * H, :], vectors[..., 2 * H:, :]
        y0 = sh[..., :1]
        y1 = sh[..., 1:].unsqueeze(-2)  # (B, N, k, 1, 3)
        m_s = a * y0 + (b * y1).sum(-1)
        m_u = c.unsqueeze(-1) * y1 + d * y0.unsqueeze(-1) + _cross(e, y1)
        s_i = x[..., :H].unsqueeze(2).expand(B, N, k, H)
        gates = self.gate(torch.cat([radial, s_j, s_i], dim=-1))
        weight = valid.to(x.dtype).unsqueeze(-1)
        m_s = m_s * gates[..., :H] * weight
        m_u = m_u * (gates[..., H:] * weight).unsqueeze(-1)
        count = weight.sum(2).clamp(min=1.0)
        mean = torch.cat([m_s.sum(2), m_u.sum(2).flatten(-2)], dim=-1) / count
        return self.update(x + mean)
