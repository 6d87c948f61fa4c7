"""The cascaded temporal interpolator (Align Your Structures): a pretrained per-frame network run on windows of
T frames, with a temporal block after each of its blocks and the two mixed by a learned alpha.

For every block l of every ``DeepNet`` of an ``EquiJumpNetwork`` (the conditioner and each header), on the
frames of a window stacked along the batch:
    h <- alpha_l h + (1 - alpha_l) TemporalBlock_l(h + given embedding, positions),    h = SpatialBlock_l(h)
alpha_l = sigmoid(k_l), k_l learned and 0 at the start (alpha 0.5, the authors' code). The pretrained blocks
are not changed here (the window model freezes them). The embedding of "this frame is given" (a learned H x 0e
per state) enters the temporal branch only, so that alpha = 1 (``set_alpha``) is the pretrained network
exactly, frame by frame, as the paper promises. The mixing acts on features, not coordinates: the package's
blocks keep positions fixed (the paper's EGCL layers also move coordinates, which it interpolates too).
"""
from typing import Dict, List, Optional

import torch

from .deepnet import DeepNet
from .network import EquiJumpNetwork
from .temporal import TemporalBlock


class InterpolatedDeepNet(torch.nn.Module):
    """The temporal blocks and mixing coefficients of one pretrained ``DeepNet`` of ``layers`` blocks
    (``TemporalBlock``'s arguments after ``layers``).

    forward(net, x (B T, N, irreps_in), frames T, given (B T,) bool, positions (B T, N, 3), residue_mask (B T, N),
    graph) -> (B T, N, irreps_out): ``net``'s forward with the temporal blocks interleaved.
    """

    def __init__(self, layers: int, H: int, graph_radial: int, n_radial: int, r_max: float,
                 n_offset_frequencies: int, length_A: float):
        super().__init__()
        self.H = H
        self.temporal = torch.nn.ModuleList([
            TemporalBlock(H, graph_radial, n_radial, r_max, n_offset_frequencies, length_A) for _ in range(layers)])
        self.mix_logit = torch.nn.Parameter(torch.zeros(layers))
        self.given_embedding = torch.nn.Embedding(2, H)
        self.fixed_alpha: Optional[float] = None

    def alpha(self) -> torch.Tensor:
        """alpha_l (layers,): sigmoid(k_l), or the value ``set_alpha`` fixed."""
        if self.fixed_alpha is not None:
            return torch.full_like(self.mix_logit, self.fixed_alpha)
        return torch.sigmoid(self.mix_logit)

    def forward(self, net: DeepNet, x: torch.Tensor, frames: int, given: torch.Tensor, positions: torch.Tensor,
                residue_mask: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, radial: torch.Tensor,
                sh: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha().to(x.dtype)
        marker = torch.nn.functional.pad(self.given_embedding(given.long()).to(x.dtype), (0, 3 * self.H))
        h = net.initial(x)
        outputs: List[torch.Tensor] = []
        for l, (spatial, temporal) in enumerate(zip(net.blocks, self.temporal)):
            h = spatial(h, index, valid, radial, sh)
            t = temporal(h + marker.unsqueeze(1), frames, positions, index, valid, radial, sh)
            h = alpha[l] * h + (1.0 - alpha[l]) * t
            outputs.append(h)
        return net.finish(outputs, residue_mask)


class TemporalNetwork(torch.nn.Module):
    """The temporal parts of an ``EquiJumpNetwork`` run on windows: one ``InterpolatedDeepNet`` for its
    conditioner and one per header. It holds no pretrained weights: every call is given the network.

    ``condition`` and ``run_headers`` are those of ``EquiJumpNetwork`` on windows of ``frames`` frames stacked
    along the batch (B T, ...), with ``given`` (B T,) marking the frames that are given.
    """

    def __init__(self, network: EquiJumpNetwork, n_radial: int, r_max: float, n_offset_frequencies: int,
                 length_A: float):
        super().__init__()
        H = network.H

        def temporal(net: DeepNet) -> InterpolatedDeepNet:
            return InterpolatedDeepNet(len(net.blocks), H, network.neighbours.n_radial, n_radial, r_max,
                                       n_offset_frequencies, length_A)

        self.conditioner = temporal(network.conditioner)
        self.headers = torch.nn.ModuleDict({name: temporal(header) for name, header in network.headers.items()})

    def set_alpha(self, value: Optional[float]) -> None:
        """Fix every alpha_l to ``value`` (1: the pretrained network alone), or None: the learned ones again."""
        for part in [self.conditioner, *self.headers.values()]:
            part.fixed_alpha = None if value is None else float(value)

    def alphas(self) -> Dict[str, torch.Tensor]:
        """alpha_l of each part ('conditioner', header names), detached."""
        return {"conditioner": self.conditioner.alpha().detach(),
                **{name: part.alpha().detach() for name, part in self.headers.items()}}

    def condition(self, network: EquiJumpNetwork, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor,
                  mask: torch.Tensor, residue_mask: torch.Tensor, frames: int, given: torch.Tensor) -> torch.Tensor:
        index, valid, radial, sh = network.neighbours(P0, residue_mask)
        raw = self.conditioner(network.conditioner, network.condition_input(P0, V0, S, mask), frames, given, P0,
                               residue_mask, index, valid, radial, sh)
        return network.finish_condition(raw, residue_mask)

    def run_headers(self, network: EquiJumpNetwork, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor,
                    P_tau: torch.Tensor, V_tau: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor,
                    residue_mask: torch.Tensor, frames: int, given: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = network.header_input(h, P0, V0, P_tau, V_tau, tau, mask)
        index, valid, radial, sh = network.neighbours(P_tau, residue_mask)
        out: Dict[str, torch.Tensor] = {}
        for name, header in network.headers.items():
            y = self.headers[name](header, x, frames, given, P_tau, residue_mask, index, valid, radial, sh)
            out[name] = network.header_output(name, y, mask)
        return out
