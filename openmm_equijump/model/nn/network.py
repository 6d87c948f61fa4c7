"""The EquiJump network: a conditioner run once per jump and the headers run at every latent step."""
from typing import Dict, Optional, Sequence

import math
import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .deepnet import DeepNet
from .graph import NeighbourGraph
from .irreps import hidden_irreps
from .norm import EquivariantLayerNorm


def tau_embedding(tau: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """Latent time tau (B,) in [0, 1] -> (B, 2 n + 1) invariant features [tau, sin(2 pi k tau), cos(2 pi k tau)]."""
    k = torch.arange(1, n_frequencies + 1, dtype=tau.dtype, device=tau.device)
    angle = 2.0 * math.pi * tau.unsqueeze(-1) * k
    return torch.cat([tau.unsqueeze(-1), torch.sin(angle), torch.cos(angle)], dim=-1)


@compile_mode("script")
class EquiJumpNetwork(torch.nn.Module):
    """Conditioner f_cond(S, X^t) and one pair of headers <name>_P, <name>_V(f_cond, X_tau, tau) for every name
    in ``outputs`` (the paper's ("b", "eta"): four headers), all ``DeepNet``s.

    Conditioner node input: a learned embedding of the residue type (H x 0e) and the 13 masked vectors of X^t
    (13 x 1e), on the kNN graph of the anchors of X^t. Header node input: the conditioner's features
    (H x 0e + H x 1e), the latent time (2 n_tau + 1 x 0e), the 13 masked vectors of X_tau (13 x 1e) and the
    anchor displacement P_tau - P^t (1 x 1e; translation invariant because the interpolant keeps the anchor
    centroid fixed), on the kNN graph of the anchors of X_tau, which all headers share. The V headers output
    13 x 1e, the P headers 1 x 1e per residue.

    Every self-interaction squares its input, and a header's first two square it twice before the first layer
    norm; so what enters the headers is bounded: the conditioner's features are layer-normalized per residue
    (their scale is learned, not physical) and every input vector is divided by ``input_length_A`` (the
    graph's distances are not). Without the first, features of order 30 reached 1e6 by the first block of a
    header and float32 overflowed in training (README, "NaN in training").

    ``n_vectors``: the vectors per residue (13 for the tensor cloud). ``n_condition_vectors``: the vectors per
    residue the conditioner reads (default ``n_vectors``; more when its V0 carries extra vectors after the
    cloud's, e.g. DiffMD's velocities, with ``mask`` as wide). Shapes: B proteins padded to N residues;
    P (B, N, 3) and V (B, N, 13, 3) in Angstrom; S (B, N) int64;
    mask (B, N, 13) bool; residue_mask (B, N) bool; tau (B,).
    """

    def __init__(self, H: int, conditioner_layers: int, header_layers: int, k_neighbors: int, n_radial: int,
                 r_max: float, n_residue_types: int, n_tau_frequencies: int, outputs: Sequence[str] = ("b", "eta"),
                 input_length_A: float = 1.0, *, n_vectors: int, n_condition_vectors: Optional[int] = None):
        super().__init__()
        if not outputs:
            raise ValueError("EquiJumpNetwork needs at least one output name, e.g. outputs=('b', 'eta')")
        self.H = H
        self.n_tau_frequencies = n_tau_frequencies
        self.input_scale = 1.0 / input_length_A
        n_tau = 2 * n_tau_frequencies + 1
        hidden = hidden_irreps(H)
        self.neighbours = NeighbourGraph(k_neighbors, n_radial, r_max)
        self.residue_embedding = torch.nn.Embedding(n_residue_types, H)
        n_condition = n_vectors if n_condition_vectors is None else n_condition_vectors
        self.conditioner = DeepNet(o3.Irreps(f"{H}x0e + {n_condition}x1e"), hidden, H, conditioner_layers, n_radial)
        self.condition_norm = EquivariantLayerNorm(H)
        header_in = hidden + o3.Irreps(f"{n_tau}x0e + {n_vectors}x1e + {n_vectors}x1e + 1x1e")

        def header(irreps_out: str) -> DeepNet:
            return DeepNet(header_in, o3.Irreps(irreps_out), H, header_layers, n_radial)

        headers = {}
        for name in outputs:
            headers[f"{name}_P"] = header("1x1e")
            headers[f"{name}_V"] = header(f"{n_vectors}x1e")
        self.headers = torch.nn.ModuleDict(headers)

    @torch.jit.export
    def condition(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor) -> torch.Tensor:
        """The embedding of X^t: (B, N, 4H) hidden features."""
        index, valid, radial, sh = self.neighbours(P0, residue_mask)
        raw = self.conditioner(self.condition_input(P0, V0, S, mask), residue_mask, index, valid, radial, sh)
        return self.finish_condition(raw, residue_mask)

    @torch.jit.export
    def condition_input(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor
                        ) -> torch.Tensor:
        """The conditioner's node input (B, N, H + 3 n_condition_vectors): residue embedding and scaled vectors."""
        V0 = V0 * (mask.unsqueeze(-1).to(V0.dtype) * self.input_scale)
        return torch.cat([self.residue_embedding(S).to(P0.dtype), V0.flatten(-2)], dim=-1)

    @torch.jit.export
    def finish_condition(self, raw: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
        """The conditioner's output (B, N, 4H) layer-normalized and zero on padding: the embedding."""
        h = self.condition_norm(raw)
        return h * residue_mask.unsqueeze(-1).to(h.dtype)

    @torch.jit.export
    def header_input(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor,
                     V_tau: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The headers' node input (B, N, header irreps): embedding, time, scaled vectors and differences."""
        B, N = P_tau.shape[0], P_tau.shape[1]
        scaled = mask.unsqueeze(-1).to(V_tau.dtype) * self.input_scale
        tau_features = tau_embedding(tau, self.n_tau_frequencies).unsqueeze(1).expand(B, N, -1)
        return torch.cat([h, tau_features, (V_tau * scaled).flatten(-2), ((V_tau - V0) * scaled).flatten(-2),
                          (P_tau - P0) * self.input_scale], dim=-1)

    @torch.jit.export
    def run_headers(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor, V_tau: torch.Tensor,
              tau: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
              ) -> Dict[str, torch.Tensor]:
        """Raw header outputs by header name: <name>_P (B, N, 3) and <name>_V (B, N, 13, 3), zero on padding."""
        x = self.header_input(h, P0, V0, P_tau, V_tau, tau, mask)
        index, valid, radial, sh = self.neighbours(P_tau, residue_mask)
        out: Dict[str, torch.Tensor] = {}
        for name, header in self.headers.items():
            out[name] = self.header_output(name, header(x, residue_mask, index, valid, radial, sh), mask)
        return out

    @torch.jit.export
    def header_output(self, name: str, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Header ``name``'s flat output (B, N, 3 k) as <name>_P (B, N, 3) or <name>_V (B, N, 13, 3)."""
        if name.endswith("_V"):
            return y.reshape(y.shape[0], y.shape[1], -1, 3) * mask.unsqueeze(-1).to(y.dtype)
        return y
