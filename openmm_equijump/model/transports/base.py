"""The interface every transport implements: what the headers predict, how it is trained, how it samples.

A transport learns the jump X^t -> X^(t + lag) as a map from a start state at latent time tau = 0 to X^(t + lag)
at tau = 1, with the network conditioned on X^t. Tensor clouds are handled as anchors P (B, N, 3) and vectors
V (B, N, 13, 3) in Angstrom, with ``residue_mask`` (B, N) and ``mask`` (B, N, 13) marking what is real; X0 below
is X^t and X1 is X^(t + lag) with its anchor centroid moved onto X^t's (``transports.noise.align_centroid``).

A transport is a ``torch.nn.Module`` (built from an ``TransportConfig``; ``scale_P``, ``scale_V`` in A are its
noise or prior scales) with

    outputs: Tuple[str, ...]   header names; the network builds <name>_P (1x1e per residue) and <name>_V (13x1e)
    prior_draws: int           standard-normal draws the sampler's start state takes (0: it starts at X^t)

  training (``EquiJumpModel.loss``: draw, interpolate, headers at X_tau, loss)
    draw(B, residue_mask, mask, dtype, generator) -> (tau (B,), Z_P, Z_V)  latent times and standard noise
        (``Transport``: tau ~ U(0, 1); override for another law)
    interpolate(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask) -> (P_tau, V_tau)   the network's input
    targets(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask) -> {header name: target}
    loss(out, P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask) -> {'loss', one term per header, 'floor'}
        (``Transport``: the regression 1/2 |f|^2 - T . f of every header f onto its target T)

  sampling (``model.sampler.JumpSampler`` runs: start, then for k < K: headers at tau_k, step; start and step are
  compiled by TorchScript with the sampler)
    schedule(latent_steps, eps, relaxation_limit, stochastic) -> List[List[float]]   host side, once: row k
        is [tau_k, dtau_k, coefficients of step k...]; the latent loop never computes a schedule value
    start(P0, V0, prior_P, prior_V, residue_mask) -> (P, V) at tau = 0 (prior_* None when prior_draws = 0)
    step(out, P0, V0, P, V, tau, row, noise_P, noise_V, residue_mask) -> (P, V) at tau_(k+1), from the headers'
        outputs ``out`` at X_tau = (P, V), tau (B,) = tau_k; noise_* (B, ...) standard normal, None in ODE mode

Translation: every prior is centred on X^t's anchor centroid and every anchor update is a combination of centred
tensors (header anchor outputs are centred by ``EquiJumpModel.run_headers``, noise by ``standard_noise``), so no
transport moves the protein's C-alpha centroid. Rotation: noise enters only through tensors the sampler draws
in the lab frame, so rotating X^t and all the noise rotates the jump.

A new transport is one module in this package with a subclass of ``Transport`` and one line in ``TRANSPORTS``.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from .config import TransportConfig
from .noise import centred, standard_noise


def masked_mean(x: torch.Tensor, weight: torch.Tensor, count: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Sum of x over everything real divided by the number of real coordinates (weight broadcasts to x), or by
    ``count`` when given (that of a larger batch whose rows x holds)."""
    return (x * weight).sum() / (weight.expand_as(x).sum() if count is None else count).clamp(min=1.0)


def coordinate_counts(mask: torch.Tensor, residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Real anchor and real vector coordinates of a batch (``residue_mask`` (B, N), ``mask`` (B, N, 13)): the
    denominators of the masked means of its anchor (_P) and vector (_V) loss terms."""
    return 3 * residue_mask.sum(), 3 * (mask & residue_mask.unsqueeze(-1)).sum()


def prior_centre(P0: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """The anchor centroid of X^t over the real residues, broadcast to P0's shape (B, N, 3); zero on padding."""
    return (P0 - centred(P0, residue_mask)) * residue_mask.unsqueeze(-1).to(P0.dtype)


class Transport(torch.nn.Module):
    """Base class of the transports: the training draws and the loss every transport shares. Subclasses set
    ``outputs`` and ``prior_draws`` and define ``interpolate``, ``targets``, ``schedule``, ``start`` and ``step``
    with the signatures of the module docstring."""

    outputs = ()
    prior_draws = 0

    def __init__(self, config: TransportConfig):
        super().__init__()
        self.scale_P = config.scale_P
        self.scale_V = config.scale_V

    @torch.jit.unused
    def draw(self, batch_size: int, residue_mask: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype,
             generator: Optional[torch.Generator]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training draws: tau ~ U(0, 1) per pair, then standard noise Z_P (centred), Z_V (masked)."""
        tau = torch.rand([batch_size], generator=generator, dtype=dtype, device=mask.device)
        Z_P, Z_V = standard_noise(residue_mask, mask, dtype, generator)
        return tau, Z_P, Z_V

    @torch.jit.unused
    def loss(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor,
             V1: torch.Tensor, tau: torch.Tensor, Z_P: torch.Tensor, Z_V: torch.Tensor, mask: torch.Tensor,
             residue_mask: torch.Tensor, counts: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
             ) -> Dict[str, torch.Tensor]:
        """Header outputs -> {'loss', one term per header, 'floor'}: every term is 1/2 |f|^2 - T . f per real
        coordinate for prediction f and target T (``targets``), minimized by f = E[T | X_tau]. ``counts``: the
        anchor and vector coordinate counts to divide by (``coordinate_counts``) when these pairs are some rows
        of a larger batch; the terms are then these rows' shares of that batch's terms.

        'loss' is the sum of the terms. 'floor' = -1/2 (mean |T|^2) summed the same way: the value 'loss' takes
        when every prediction equals its target, reached only where X_tau determines the targets (e.g. when a
        model memorizes a few pairs); 'loss' - 'floor' = 1/2 mean |f - T|^2 >= 0.
        """
        targets = self.targets(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask)
        return regression_loss(out, targets, mask, residue_mask, counts)


def regression_loss(out: Dict[str, torch.Tensor], targets: Dict[str, torch.Tensor], mask: torch.Tensor,
                    residue_mask: torch.Tensor,
                    counts: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
    """{'loss', one term per target, 'floor'} of predictions ``out`` against ``targets`` (by header name;
    <name>_P (B, N, 3) weighted by ``residue_mask`` (B, N), <name>_V (B, N, 13, 3) by ``mask`` (B, N, 13)): every
    term is the mean of 1/2 |f|^2 - T . f per real coordinate, minimized by f = E[T | input] (``Transport.loss``).
    ``counts``: as in ``Transport.loss``."""
    w_P = residue_mask.unsqueeze(-1).to(out[next(iter(targets))].dtype)
    w_V = mask.unsqueeze(-1).to(w_P.dtype)
    terms: Dict[str, torch.Tensor] = {}
    total = torch.zeros((), dtype=w_P.dtype, device=w_P.device)
    floor = torch.zeros((), dtype=w_P.dtype, device=w_P.device)
    for name, target in targets.items():
        weight = w_P if name.endswith("_P") else w_V
        target = target * weight
        prediction = out[name]
        count = None if counts is None else counts[0 if name.endswith("_P") else 1]
        terms[name] = masked_mean(0.5 * prediction * prediction - target * prediction, weight, count)
        total = total + terms[name]
        floor = floor - masked_mean(0.5 * target * target, weight, count)
    terms["loss"] = total
    terms["floor"] = floor
    return terms
