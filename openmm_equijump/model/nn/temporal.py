"""Equivariant temporal attention: each node attends over the frames of its window (GeoTDM's equivariant
temporal layer, on the package's hidden irreps; Align Your Structures' "ET" layer).

Per node i (a residue; the layer knows only nodes) and frames t, s of a window of T frames, with hidden
features (scalars s_t (H), vectors u_t (H x 3)) and node positions x_t (3,) Angstrom:
    e_ts   = [Gaussian basis of |x_t - x_s| on [0, r_max], offset features of (t - s)]          invariant
    a_ts   = softmax_s( q(s_t) . k(s_s) / sqrt(H) + w(e_ts) )                                      invariant
    s'_t   = sum_s a_ts v(s_s)
    u'_t   = sum_s a_ts ( W u_s + g(s_t, s_s, e_ts) (x_s - x_t) / length )                         1e per channel
and the layer returns LayerNorm(Linear(s' (+) u') + input). q, k, v, w, g are MLPs or linear maps of scalars and
W mixes vector channels only, so rotating every frame by one R rotates u' and leaves s' unchanged, and
translating all frames together changes nothing (only differences between frames enter). Offset features:
(t - s) / 2^n and sin, cos(2 pi (t - s) / 2^k) for k = 1 .. n (periods 2 .. 2^n frames): defined for any T.
"""
import math

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .deepnet import Block
from .irreps import hidden_irreps, join_hidden, split_hidden
from .norm import EquivariantLayerNorm


def offset_features(offset: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """Frame offsets (...) -> (..., 2 n + 1) invariant features (module docstring)."""
    periods = 2.0 ** torch.arange(1, n_frequencies + 1, dtype=offset.dtype, device=offset.device)
    angle = 2.0 * math.pi * offset.unsqueeze(-1) / periods
    return torch.cat([offset.unsqueeze(-1) / periods[-1], torch.sin(angle), torch.cos(angle)], dim=-1)


@compile_mode("script")
class TemporalAttention(torch.nn.Module):
    """One equivariant temporal attention layer over the frames of each node (module docstring).

    Args:
        H: hidden multiplicity (features ``H x 0e + H x 1e``). n_radial, r_max: Gaussian basis of the distance a
        node moved between two frames (Angstrom). n_offset_frequencies: n of the offset features. length_A: the
        length that divides the displacement values (``ModelConfig.input_length_A``).
    forward(x (B, T, N, 4H), positions (B, T, N, 3) Angstrom) -> (B, T, N, 4H).
    """

    def __init__(self, H: int, n_radial: int, r_max: float, n_offset_frequencies: int, length_A: float):
        super().__init__()
        self.H = H
        self.n_offset_frequencies = n_offset_frequencies
        self.inverse_length = 1.0 / length_A
        self.width = r_max / max(n_radial - 1, 1)
        self.register_buffer("centres", torch.linspace(0.0, r_max, n_radial), persistent=False)
        n_edge = n_radial + 2 * n_offset_frequencies + 1
        self.query = torch.nn.Linear(H, H)
        self.key = torch.nn.Linear(H, H)
        self.value = torch.nn.Linear(H, H)
        self.edge_bias = torch.nn.Sequential(torch.nn.Linear(n_edge, H), torch.nn.SiLU(), torch.nn.Linear(H, 1))
        self.displacement_gate = torch.nn.Sequential(torch.nn.Linear(2 * H + n_edge, H), torch.nn.SiLU(),
                                                     torch.nn.Linear(H, H))
        self.vector_mix = torch.nn.Linear(H, H, bias=False)  # acts on channels only: commutes with rotations
        self.out = o3.Linear(hidden_irreps(H), hidden_irreps(H))
        self.norm = EquivariantLayerNorm(H)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        s, u = split_hidden(x.transpose(1, 2), self.H)  # (B, N, T, H), (B, N, T, H, 3)
        pos = positions.transpose(1, 2)  # (B, N, T, 3)
        displacement = pos.unsqueeze(2) - pos.unsqueeze(3)  # [t, s] = x_s - x_t, (B, N, T, T, 3)
        distance = torch.linalg.vector_norm(displacement, dim=-1, keepdim=True)
        frame = torch.arange(T, dtype=x.dtype, device=x.device)
        offset = offset_features(frame.unsqueeze(1) - frame.unsqueeze(0), self.n_offset_frequencies)
        B, N = s.shape[0], s.shape[1]
        edge = torch.cat([torch.exp(-(((distance - self.centres.to(x.dtype)) / self.width) ** 2)),
                          offset.expand(B, N, T, T, offset.shape[-1])], dim=-1)
        logits = (self.query(s).unsqueeze(3) * self.key(s).unsqueeze(2)).sum(-1) / math.sqrt(self.H)
        attention = torch.softmax(logits + self.edge_bias(edge).squeeze(-1), dim=-1)  # (B, N, T, T) over s
        scalars = attention @ self.value(s)
        pair = torch.cat([s.unsqueeze(3).expand(B, N, T, T, self.H), s.unsqueeze(2).expand(B, N, T, T, self.H),
                          edge], dim=-1)
        gate = self.displacement_gate(pair)  # (B, N, T, T, H)
        moved = (attention.unsqueeze(-1) * gate).unsqueeze(-1) * (displacement * self.inverse_length).unsqueeze(-2)
        mixed = self.vector_mix(u.transpose(-1, -2)).transpose(-1, -2)  # (B, N, T, H, 3)
        vectors = torch.einsum("bnts,bnshc->bnthc", attention, mixed) + moved.sum(3)
        out = self.norm(self.out(join_hidden(scalars, vectors)) + x.transpose(1, 2))
        return out.transpose(1, 2)


@compile_mode("script")
class TemporalBlock(torch.nn.Module):
    """Align Your Structures' temporal block [ET, ES, ET]: temporal attention, a (new, trainable) spatial
    ``Block`` on every frame's graph, temporal attention.

    Args: H; graph_radial: the radial basis size of the frames' graph; the others as ``TemporalAttention``'s.
    forward(x (B T, N, 4H) frames stacked window by window, frames T, positions (B T, N, 3) Angstrom, and the
    frames' kNN graph (``NeighbourGraph``)) -> (B T, N, 4H).
    """

    def __init__(self, H: int, graph_radial: int, n_radial: int, r_max: float, n_offset_frequencies: int,
                 length_A: float):
        super().__init__()
        self.before = TemporalAttention(H, n_radial, r_max, n_offset_frequencies, length_A)
        self.spatial = Block(H, graph_radial)
        self.after = TemporalAttention(H, n_radial, r_max, n_offset_frequencies, length_A)

    def forward(self, x: torch.Tensor, frames: int, positions: torch.Tensor, index: torch.Tensor,
                valid: torch.Tensor, radial: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
        windows = positions.reshape(-1, frames, positions.shape[1], 3)
        x = self.before(x.reshape(-1, frames, x.shape[1], x.shape[2]), windows).flatten(0, 1)
        x = self.spatial(x, index, valid, radial, sh)
        return self.after(x.reshape(-1, frames, x.shape[1], x.shape[2]), windows).flatten(0, 1)
