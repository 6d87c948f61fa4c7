"""EquiJumpModel: the network, the interpolant, and the training loss on a ``PairBatch``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from ..config import check_ranges

from .batch import PairBatch
from .transports import TransportConfig, make_transport
from .transports.base import coordinate_counts
from .transports.noise import align_centroid, centred, superpose
from .nn import EquiJumpNetwork
from ..protein.vocabulary import N_SLOTS, VOCABULARY


@dataclass
class ModelConfig:
    """Network hyperparameters (paper: H in {32, 64, 128, 256}, conditioner 6 and header 4 blocks).

    H: multiplicity of the hidden irreps ``H x 0e + H x 1e``.
    conditioner_layers, header_layers: blocks of the conditioner and of each header (two headers per output
        of the transport: four for the interpolants' "drift" parameterization, two for the others).
    k_neighbors: kNN graph size (per residue, within its protein).
    n_radial: Gaussian radial basis functions on [0, r_max]; r_max in Angstrom (the paper gives neither:
        16 neighbours and 16 functions to 20 A cover a residue's structural neighbourhood).
    n_residue_types: size of the residue vocabulary (``protein.vocabulary.VOCABULARY``).
    n_tau_frequencies: Fourier frequencies of the latent-time embedding (2 n + 1 scalars).
    input_length_A: the length in Angstrom that the network's input vectors are measured in (10 A: side-chain
        vectors of order 0.1 to 0.7; 1 A, raw Angstrom, overflowed float32 in training: README, "NaN in training").
    """

    H: int = 32
    conditioner_layers: int = 6
    header_layers: int = 4
    k_neighbors: int = 16
    n_radial: int = 16
    r_max: float = 20.0
    n_residue_types: int = len(VOCABULARY)
    n_tau_frequencies: int = 8
    input_length_A: float = 10.0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("H", "conditioner_layers", "header_layers", "k_neighbors", "n_radial",
                                         "n_residue_types", "n_tau_frequencies"),
                     positive=("input_length_A", "r_max"))


class EquiJumpModel(torch.nn.Module):
    """The network and the transport (``interpolant``, built from ``TransportConfig.kind``) that learn the jump
    from X^t to X^(t + lag), for the trainer and the sampler.

    ``condition`` and ``run_headers`` are scriptable (the sampler calls them); ``loss`` is the training objective.
    Shapes as in ``PairBatch``: B proteins padded to N residues, Angstrom.
    """

    def __init__(self, model_config: Optional[ModelConfig] = None,
                 transport_config: Optional[TransportConfig] = None):
        super().__init__()
        self.model_config = model_config if model_config is not None else ModelConfig()
        self.transport_config = transport_config if transport_config is not None else TransportConfig()
        c = self.model_config
        self.transport = make_transport(self.transport_config)
        self.network = EquiJumpNetwork(c.H, c.conditioner_layers, c.header_layers, c.k_neighbors, c.n_radial,
                                       c.r_max, c.n_residue_types, c.n_tau_frequencies, self.transport.outputs,
                                       c.input_length_A, n_vectors=N_SLOTS)

    @torch.jit.export
    def condition(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor) -> torch.Tensor:
        """Conditioner embedding of X^t: (B, N, 4H), computed once per jump."""
        return self.network.condition(P0, V0, S, mask, residue_mask)

    @torch.jit.export
    def run_headers(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor, V_tau: torch.Tensor,
              tau: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The headers' outputs by name at latent time tau (B,): padding zero, and the anchor outputs (<name>_P)
        centred so that they cannot move the protein's C-alpha centroid."""
        out = self.network.run_headers(h, P0, V0, P_tau, V_tau, tau, mask, residue_mask)
        for name in out.keys():
            if name.endswith("_P"):
                out[name] = centred(out[name], residue_mask)
        return out

    def loss(self, batch: PairBatch, generator: Optional[torch.Generator] = None,
             rows: Optional[slice] = None) -> Dict[str, torch.Tensor]:
        """Training objective on one batch: latent times and noise drawn by the transport from ``generator``.

        Returns scalars: 'loss' (to minimize) = the sum of one term per header (e.g. 'x1_P', 'x1_V'), and 'floor'
        (see ``transports.base.Transport.loss``). Inputs need not be masked: padded slots and residues are zeroed
        here. ``rows``: the share of these pairs of the batch in its loss, for processes that split one batch
        (``training.distributed``): the noise is drawn for the whole batch and each term is divided by the
        whole batch's count of real coordinates, so the shares of rows that partition the batch add up to the
        whole batch's loss.
        """
        dtype = batch.P0.dtype
        residue_mask = batch.residue_mask
        mask = batch.mask & residue_mask.unsqueeze(-1)
        tau, Z_P, Z_V = self.transport.draw(batch.batch_size, residue_mask, mask, dtype, generator)
        counts = None
        if rows is not None:
            counts = coordinate_counts(mask, residue_mask)
            batch, tau, Z_P, Z_V = batch.rows(rows), tau[rows], Z_P[rows], Z_V[rows]
            residue_mask, mask = residue_mask[rows], mask[rows]
        P0, V0, P1, V1 = self.aligned_pair(batch)
        P_tau, V_tau = self.transport.interpolate(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask)
        h = self.condition(P0, V0, batch.S, mask, residue_mask)
        out = self.run_headers(h, P0, V0, P_tau, V_tau, tau, mask, residue_mask)
        return self.transport.loss(out, P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask, counts)

    def aligned_pair(self, batch: PairBatch) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(P0, V0, P1, V1) of the batch masked, with X^(t+lag) superposed onto X^t (``superpose_target``) or
        translated onto its C-alpha centroid: the pair the model learns."""
        residue_mask = batch.residue_mask
        w_P = residue_mask.unsqueeze(-1).to(batch.P0.dtype)
        w_V = (batch.mask & residue_mask.unsqueeze(-1)).unsqueeze(-1).to(batch.V0.dtype)
        P0, V0 = batch.P0 * w_P, batch.V0 * w_V
        if self.transport_config.superpose_target:
            P1, V1 = superpose(batch.P1 * w_P, batch.V1 * w_V, P0, residue_mask)
        else:
            P1, V1 = align_centroid(batch.P1 * w_P, P0, residue_mask) * w_P, batch.V1 * w_V
        return P0, V0, P1, V1

    def jump_displacement_rms(self, batch: PairBatch) -> Tuple[float, float]:
        """Root-mean-square per real coordinate (Angstrom) of X^(t+lag) - X^t over the batch, anchors and vectors,
        in the frame the model learns (``aligned_pair``): what ``TransportConfig.endpoint_scale_P`` and
        ``endpoint_scale_V`` should be near for the two-sided interpolant."""
        P0, V0, P1, V1 = self.aligned_pair(batch)
        n_P = batch.residue_mask.sum() * 3
        n_V = (batch.mask & batch.residue_mask.unsqueeze(-1)).sum() * 3
        return (float(((P1 - P0) ** 2).sum() / n_P.clamp(min=1)) ** 0.5,
                float(((V1 - V0) ** 2).sum() / n_V.clamp(min=1)) ** 0.5)

    def parameter_counts(self) -> Dict[str, int]:
        """Trainable parameters: 'conditioner' (with the residue embedding), each header, and 'total'."""
        return parameter_counts(self)


def parameter_counts(model: EquiJumpModel) -> Dict[str, int]:
    """Trainable parameters of ``model`` by part: 'conditioner' (with the residue embedding and its output
    norm), 'header_<name>' for each header, and 'total'."""
    net = model.network

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    counts = {"conditioner": count(net.conditioner) + count(net.residue_embedding) + count(net.condition_norm)}
    counts.update({f"header_{name}": count(header) for name, header in net.headers.items()})
    counts["total"] = count(model)
    return counts
