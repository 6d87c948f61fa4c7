"""Stochastic interpolants between two tensor clouds, and the losses that learn their drift and denoiser.

A tensor cloud X = (P, V) is handled as its two parts: anchors P (B, N, 3) and vectors V (B, N, 13, 3), both
in Angstrom, with ``residue_mask`` (B, N) and ``mask`` (B, N, 13) marking what is real. Every noise draw, loss
term and sampler update is masked: padded residues and padded vector slots are exactly zero and never count.

Translation. Only the anchors carry absolute position. The interpolant keeps the C-alpha centroid of every
protein fixed by construction: the anchor noise is drawn in the zero-centroid subspace (``centred``), the
network's anchor outputs are projected onto it (``EquiJumpModel.predict``), and the target X1 is translated so
its anchor centroid equals X0's (``align_centroid``; the centroid displacement between two MD frames is
diffusion of the whole protein, which a jump does not model). So the sampler cannot drift the protein, and a
jump of a translated protein is the translated jump.

Parameterization. What the network's headers predict. "drift" (the paper): four headers, the drift b and the
denoiser eta of anchors and vectors, each learned by its own loss. "endpoint": two headers predicting the end
state X1 (as the displacement D = X1 - X0) under a squared-error loss; b and eta then follow exactly from
X_tau = (1 - tau) X0 + tau X1 + gamma Z, because given X_tau and X0 the noise is fixed by X1:
    eta = (X_tau - X0 - tau D) / gamma,      b = D + gamma'(tau) eta
(minimizers map to minimizers: E[X1 | X_tau] fixes E[Z | X_tau] and E[b | X_tau]). Both feed the same sampler.
An untrained "endpoint" network predicts D ~ 0: its jump stays near X^t with intact geometry, while an
untrained "drift" network leaves the sampler's noise in the structure (eta ~ 0 removes none of it); the
"endpoint" model is what a short training run makes usable.

Interface. An interpolant is a ``torch.nn.Module`` with
    outputs                                       the header names it needs (the network builds <name>_P, _V)
    gamma(tau) -> (gamma_P, gamma_V)              noise amplitudes at latent time tau (tensors like tau)
    interpolate(P0, V0, P1, V1, tau, Z_P, Z_V)    -> (P_tau, V_tau)
    drift_and_denoiser(out, P0, V0, P_tau, V_tau, tau) -> (b_P, b_V, eta_P, eta_V) for the sampler
    loss(out, P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask) -> Dict[str, Tensor]
(``out``: the network's header outputs by name) and is built from an ``InterpolantConfig`` by
``make_interpolant``; a new transport (one-sided, flow matching, DDPM) is one more class in ``INTERPOLANTS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

NOISE_READINGS = ("variance", "scale")
PARAMETERIZATIONS = ("drift", "endpoint")


@dataclass
class InterpolantConfig:
    """Settings of the interpolant X_tau = (1 - tau) X0 + tau X1 + gamma(tau) Z, gamma = s tau (1 - tau).

    kind: the interpolant; "two_sided" (EquiJump).
    sigma_P, sigma_V: the paper's noise numbers for anchors and vectors (Angstrom or Angstrom^2, see below).
    noise_reading: how to read them. The paper writes both "gamma = sigma tau (1 - tau) with sigma = 3.0, 1.0"
        and "variances sigma_P^2 = 3.0, sigma_V^2 = 1.0 of Z" (its noise ablation also calls sigma_P^2 in
        {1, 3, 5} a variance). "variance" (default): sigma is the variance of the noise, so the amplitude is
        s = sqrt(sigma) (s_P = 1.73 A, s_V = 1 A); two of the paper's three statements say so. "scale":
        s = sigma (s_P = 3 A). Z itself is always standard normal, which keeps the sampler's eps / gamma
        formula exact.
    parameterization: what the headers predict: "endpoint" (default: X1, two headers) or "drift" (the
        paper's b and eta, four headers); module docstring. A short run (300 steps) jumps chignolin with intact
        geometry in the "endpoint" form, and breaks it within five jumps in the "drift" form (README).
    """

    kind: str = "two_sided"
    sigma_P: float = 3.0
    sigma_V: float = 1.0
    noise_reading: str = "variance"
    parameterization: str = "endpoint"

    def __post_init__(self) -> None:
        if self.kind not in INTERPOLANTS:
            raise ValueError(f"InterpolantConfig.kind={self.kind!r} is unknown; choose one of {sorted(INTERPOLANTS)}")
        if self.noise_reading not in NOISE_READINGS:
            raise ValueError(f"InterpolantConfig.noise_reading={self.noise_reading!r}; choose one of {NOISE_READINGS}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"InterpolantConfig.parameterization={self.parameterization!r}; choose one of "
                             f"{PARAMETERIZATIONS}")
        if self.sigma_P <= 0 or self.sigma_V <= 0:
            raise ValueError(f"InterpolantConfig noise numbers must be > 0, got sigma_P={self.sigma_P}, "
                             f"sigma_V={self.sigma_V}")

    @property
    def scale_P(self) -> float:
        """Anchor noise amplitude s_P in Angstrom (gamma_P = s_P tau (1 - tau))."""
        return math.sqrt(self.sigma_P) if self.noise_reading == "variance" else self.sigma_P

    @property
    def scale_V(self) -> float:
        """Vector noise amplitude s_V in Angstrom (gamma_V = s_V tau (1 - tau))."""
        return math.sqrt(self.sigma_V) if self.noise_reading == "variance" else self.sigma_V


def centred(P: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """Per-residue vectors P (B, N, 3) minus their mean over the real residues of each protein; zero on padding."""
    weight = residue_mask.unsqueeze(-1).to(P.dtype)
    mean = (P * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1.0)
    return (P - mean) * weight


def align_centroid(P1: torch.Tensor, P0: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """P1 (B, N, 3) translated so that its centroid over the real residues is that of P0."""
    return centred(P1, residue_mask) + (P0 - centred(P0, residue_mask))


def standard_noise(residue_mask: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype,
                   generator: Optional[torch.Generator]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Standard normal noise for a tensor cloud: Z_P (B, N, 3) centred on the real residues, Z_V (B, N, 13, 3)
    zero on padded slots. Drawn component-wise in the lab frame; the distribution is isotropic, so a rotated
    draw is as likely as the draw itself."""
    B, N, n_slots = mask.shape[0], mask.shape[1], mask.shape[2]
    Z_P = torch.randn([B, N, 3], generator=generator, dtype=dtype, device=mask.device)
    Z_V = torch.randn([B, N, n_slots, 3], generator=generator, dtype=dtype, device=mask.device)
    return centred(Z_P, residue_mask), Z_V * mask.unsqueeze(-1).to(dtype)


def _masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum of x over everything real divided by the number of real coordinates (weight broadcasts to x)."""
    return (x * weight).sum() / (weight.expand_as(x).sum()).clamp(min=1.0)


class TwoSidedInterpolant(torch.nn.Module):
    """X_tau = (1 - tau) X0 + tau X1 + gamma(tau) Z, gamma(tau) = s tau (1 - tau), separately for P and V.

    Losses, per real coordinate (mean over the batch's real anchors or real vector slots):
        b:   1/2 |b|^2 - (X1 - X0 + gamma'(tau) Z) . b      ("drift")
        eta: 1/2 |eta|^2 - Z . eta          (one printing of the paper has "+ Z . eta": a sign typo)
        x1:  1/2 |D|^2 - (X1 - X0) . D                      ("endpoint")
    Their minimizers are b = E[X1 - X0 + gamma' Z | X_tau], eta = E[Z | X_tau] and D = E[X1 - X0 | X_tau].
    """

    def __init__(self, config: InterpolantConfig):
        super().__init__()
        self.scale_P = config.scale_P
        self.scale_V = config.scale_V
        self.endpoint = config.parameterization == "endpoint"
        self.outputs = ("x1",) if self.endpoint else ("b", "eta")

    def gamma(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        g = tau * (1.0 - tau)
        return self.scale_P * g, self.scale_V * g

    def gamma_dot(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        g = 1.0 - 2.0 * tau
        return self.scale_P * g, self.scale_V * g

    def interpolate(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor,
                    tau: torch.Tensor, Z_P: torch.Tensor, Z_V: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """tau (B,) -> P_tau (B, N, 3), V_tau (B, N, 13, 3); masking follows from masked inputs and noise."""
        t_P = tau.view(-1, 1, 1)
        t_V = tau.view(-1, 1, 1, 1)
        gamma_P, gamma_V = self.gamma(tau)
        P_tau = (1.0 - t_P) * P0 + t_P * P1 + gamma_P.view(-1, 1, 1) * Z_P
        V_tau = (1.0 - t_V) * V0 + t_V * V1 + gamma_V.view(-1, 1, 1, 1) * Z_V
        return P_tau, V_tau

    def drift_and_denoiser(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor,
                           P_tau: torch.Tensor, V_tau: torch.Tensor, tau: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Header outputs -> (b_P (B, N, 3), b_V (B, N, 13, 3), eta_P, eta_V) at latent time tau (B,)."""
        if not self.endpoint:
            return out["b_P"], out["b_V"], out["eta_P"], out["eta_V"]
        gamma_P, gamma_V = self.gamma(tau)
        gamma_dot_P, gamma_dot_V = self.gamma_dot(tau)
        b_P, eta_P = _drift_and_denoiser_from_endpoint(out["x1_P"], P0, P_tau, tau.view(-1, 1, 1),
                                                       gamma_P.view(-1, 1, 1), gamma_dot_P.view(-1, 1, 1))
        b_V, eta_V = _drift_and_denoiser_from_endpoint(out["x1_V"], V0, V_tau, tau.view(-1, 1, 1, 1),
                                                       gamma_V.view(-1, 1, 1, 1), gamma_dot_V.view(-1, 1, 1, 1))
        return b_P, b_V, eta_P, eta_V

    def loss(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor,
             V1: torch.Tensor, tau: torch.Tensor, Z_P: torch.Tensor, Z_V: torch.Tensor, mask: torch.Tensor,
             residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Header outputs -> {'loss', one term per header ('b_P', 'b_V', 'eta_P', 'eta_V' or 'x1_P', 'x1_V'),
        'floor'}.

        'loss' is the sum of the terms. 'floor' = -1/2 (mean |target|^2) summed the same way: the value
        'loss' takes when every prediction equals its target, reached only where X_tau determines the targets
        (e.g. when a model memorizes a few pairs); 'loss' - 'floor' = 1/2 mean |prediction - target|^2 >= 0.
        """
        w_P = residue_mask.unsqueeze(-1).to(P0.dtype)
        w_V = mask.unsqueeze(-1).to(V0.dtype)
        if self.endpoint:
            targets = {"x1_P": (P1 - P0) * w_P, "x1_V": (V1 - V0) * w_V}
        else:
            gamma_dot_P, gamma_dot_V = self.gamma_dot(tau)
            targets = {"b_P": (P1 - P0 + gamma_dot_P.view(-1, 1, 1) * Z_P) * w_P,
                       "b_V": (V1 - V0 + gamma_dot_V.view(-1, 1, 1, 1) * Z_V) * w_V,
                       "eta_P": Z_P, "eta_V": Z_V}
        terms: Dict[str, torch.Tensor] = {}
        total = torch.zeros((), dtype=P0.dtype, device=P0.device)
        floor = torch.zeros((), dtype=P0.dtype, device=P0.device)
        for name, target in targets.items():
            weight = w_P if name.endswith("_P") else w_V
            prediction = out[name]
            terms[name] = _masked_mean(0.5 * prediction * prediction - target * prediction, weight)
            total = total + terms[name]
            floor = floor - _masked_mean(0.5 * target * target, weight)
        terms["loss"] = total
        terms["floor"] = floor
        return terms


def _drift_and_denoiser_from_endpoint(D: torch.Tensor, X0: torch.Tensor, X_tau: torch.Tensor, tau: torch.Tensor,
                                      gamma: torch.Tensor, gamma_dot: torch.Tensor
                                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(b, eta) implied by the predicted displacement D = X1 - X0 (module docstring); eta = 0 where gamma = 0
    (tau = 0: X_0 = X0 holds no noise to remove)."""
    noisy = gamma > 0
    eta = (X_tau - X0 - tau * D) / torch.where(noisy, gamma, torch.ones_like(gamma)) * noisy.to(D.dtype)
    return D + gamma_dot * eta, eta


INTERPOLANTS = {"two_sided": TwoSidedInterpolant}


def make_interpolant(config: InterpolantConfig) -> torch.nn.Module:
    """The interpolant module that ``config.kind`` names."""
    return INTERPOLANTS[config.kind](config)
