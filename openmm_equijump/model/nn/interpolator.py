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

Parameters and computation are kept apart: ``TemporalNetwork`` holds only the new parameters (what a blocks run
trains and saves beside the pretrained weights), ``WindowNetwork`` runs a pretrained network and its temporal
network together. It holds both as submodules, so it is scriptable (TorchScript cannot pass modules as
arguments) and shares their parameters (saved once in a scripted module).
"""
from typing import Dict, List, Optional

import torch

from .deepnet import DeepNet
from .network import EquiJumpNetwork
from .temporal import TemporalBlock


class TemporalBlocks(torch.nn.Module):
    """The temporal blocks and mixing coefficients of one pretrained ``DeepNet`` of ``layers`` blocks
    (``TemporalBlock``'s arguments after ``layers``): temporal (layers blocks), mix_logit k (layers,), the
    given-frame embedding (2 states x H scalars)."""

    fixed_alpha: Optional[float]

    def __init__(self, layers: int, H: int, graph_radial: int, n_radial: int, r_max: float,
                 n_offset_frequencies: int, length_A: float):
        super().__init__()
        self.H = H
        self.temporal = torch.nn.ModuleList([
            TemporalBlock(H, graph_radial, n_radial, r_max, n_offset_frequencies, length_A) for _ in range(layers)])
        self.mix_logit = torch.nn.Parameter(torch.zeros(layers))
        self.given_embedding = torch.nn.Embedding(2, H)
        self.fixed_alpha = None

    def alpha(self) -> torch.Tensor:
        """alpha_l (layers,): sigmoid(k_l), or the value ``TemporalNetwork.set_alpha`` fixed."""
        fixed = self.fixed_alpha
        if fixed is not None:
            return torch.full_like(self.mix_logit, fixed)
        return torch.sigmoid(self.mix_logit)


class InterleavedDeepNet(torch.nn.Module):
    """A pretrained ``DeepNet`` with the ``TemporalBlocks`` made for it interleaved (module docstring).

    forward(x (B T, N, irreps_in), frames T, given (B T,) bool, positions (B T, N, 3) A, residue_mask (B T, N),
    graph) -> (B T, N, irreps_out): ``net``'s forward with the temporal blocks mixed in. At alpha = 1 the
    temporal blocks are not run (their weight is 0).
    """

    def __init__(self, net: DeepNet, temporal: TemporalBlocks):
        super().__init__()
        self.net = net
        self.temporal = temporal

    def forward(self, x: torch.Tensor, frames: int, given: torch.Tensor, positions: torch.Tensor,
                residue_mask: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, radial: torch.Tensor,
                sh: torch.Tensor) -> torch.Tensor:
        alpha = self.temporal.alpha().to(x.dtype)
        fixed = self.temporal.fixed_alpha
        spatial_only = fixed is not None and fixed == 1.0
        H = self.temporal.H
        marker = torch.nn.functional.pad(self.temporal.given_embedding(given.long()).to(x.dtype), (0, 3 * H))
        h = self.net.initial(x)
        outputs: List[torch.Tensor] = []
        for l, (spatial, temporal) in enumerate(zip(self.net.blocks, self.temporal.temporal)):
            h = spatial(h, index, valid, radial, sh)
            if not spatial_only:
                t = temporal(h + marker.unsqueeze(1), frames, positions, index, valid, radial, sh)
                h = alpha[l] * h + (1.0 - alpha[l]) * t
            outputs.append(h)
        return self.net.finish(outputs, residue_mask)


class TemporalNetwork(torch.nn.Module):
    """The temporal parameters for the ``DeepNet``s of an ``EquiJumpNetwork``: ``TemporalBlocks`` for its
    conditioner and one per header (by header name). It holds no pretrained weights (``WindowNetwork`` runs
    both)."""

    def __init__(self, network: EquiJumpNetwork, n_radial: int, r_max: float, n_offset_frequencies: int,
                 length_A: float):
        super().__init__()
        H = network.H

        def temporal(net: DeepNet) -> TemporalBlocks:
            return TemporalBlocks(len(net.blocks), H, network.neighbours.n_radial, n_radial, r_max,
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


class WindowNetwork(torch.nn.Module):
    """An ``EquiJumpNetwork`` run on windows of frames with a ``TemporalNetwork`` made for it (module docstring).

    ``condition`` and ``run_headers`` are those of ``EquiJumpNetwork`` on windows of ``frames`` frames stacked
    along the batch (B T, ...), with ``given`` (B T,) marking the frames that are given.
    """

    def __init__(self, network: EquiJumpNetwork, temporal: TemporalNetwork):
        super().__init__()
        self.network = network
        self.conditioner = InterleavedDeepNet(network.conditioner, temporal.conditioner)
        # the header order of the pretrained network (the order its outputs are made in)
        self.headers = torch.nn.ModuleDict({name: InterleavedDeepNet(header, temporal.headers[name])
                                            for name, header in network.headers.items()})

    @torch.jit.export
    def condition(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor, frames: int, given: torch.Tensor) -> torch.Tensor:
        network = self.network
        index, valid, radial, sh = network.neighbours(P0, residue_mask)
        raw = self.conditioner(network.condition_input(P0, V0, S, mask), frames, given, P0, residue_mask, index,
                               valid, radial, sh)
        return network.finish_condition(raw, residue_mask)

    @torch.jit.export
    def run_headers(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor,
                    V_tau: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor,
                    frames: int, given: torch.Tensor) -> Dict[str, torch.Tensor]:
        network = self.network
        x = network.header_input(h, P0, V0, P_tau, V_tau, tau, mask)
        index, valid, radial, sh = network.neighbours(P_tau, residue_mask)
        out: Dict[str, torch.Tensor] = {}
        for name, header in self.headers.items():
            out[name] = network.header_output(name, header(x, frames, given, P_tau, residue_mask, index, valid,
                                                           radial, sh), mask)
        return out
