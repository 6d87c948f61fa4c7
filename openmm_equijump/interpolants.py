"""The transport choice (``InterpolantConfig``) and the tensor-cloud noise every transport shares.

A tensor cloud X = (P, V) is handled as its two parts: anchors P (B, N, 3) and vectors V (B, N, 13, 3), both
in Angstrom, with ``residue_mask`` (B, N) and ``mask`` (B, N, 13) marking what is real. Every noise draw, loss
term and sampler update is masked: padded residues and padded vector slots are exactly zero and never count.

Transports (``transports``: one module each, behind the same network, export and jump module):
    two_sided      EquiJump's two-sided interpolant, X^t -> X^(t + lag) directly (default)
    one_sided      one-sided stochastic interpolant, Gaussian prior -> X^(t + lag) (as in MDGen)
    flow_matching  velocity header on the one-sided path, ODE from the prior (as in F3low)
    ddpm           noise header, ancestral sampling from the prior (as in ITO)

Translation. Only the anchors carry absolute position. Every transport keeps the C-alpha centroid of every
protein fixed by construction: the anchor noise is drawn in the zero-centroid subspace (``centred``), priors
are centred on X^t's anchor centroid, the network's anchor outputs are projected onto the zero-centroid subspace
(``EquiJumpModel.heads``), and the target X1 is translated so its anchor centroid equals X0's
(``align_centroid``; the centroid displacement between two MD frames is diffusion of the whole protein, which a
jump does not model). So the sampler cannot drift the protein, and a jump of a translated protein is the
translated jump.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

NOISE_READINGS = ("variance", "scale")
PARAMETERIZATIONS = ("drift", "endpoint", "preconditioned")


@dataclass
class InterpolantConfig:
    """The transport and its noise scales.

    kind: the transport, one of ``transports.TRANSPORTS``: "two_sided" (EquiJump, default), "one_sided",
        "flow_matching", "ddpm" (module docstring).
    sigma_P, sigma_V: the paper's noise numbers for anchors and vectors (Angstrom or Angstrom^2, see below),
        read as amplitudes s_P, s_V: the latent noise gamma = s tau (1 - tau) of the two-sided interpolant, the
        prior N(0, s^2 I) (anchors around X^t's C-alpha centroid, vectors around 0) of the other transports.
    noise_reading: how to read them. The paper writes both "gamma = sigma tau (1 - tau) with sigma = 3.0, 1.0"
        and "variances sigma_P^2 = 3.0, sigma_V^2 = 1.0 of Z" (its noise ablation also calls sigma_P^2 in
        {1, 3, 5} a variance). "variance" (default): sigma is the variance of the noise, so the amplitude is
        s = sqrt(sigma) (s_P = 1.73 A, s_V = 1 A); two of the paper's three statements say so. "scale":
        s = sigma (s_P = 3 A). Z itself is always standard normal, which keeps the sampler's eps / gamma
        formula exact.
    parameterization: what the interpolants' headers predict (two_sided, one_sided; ``transports.interpolant``):
        "preconditioned" (default: the end state X1 through a denoiser's skip connection, two headers),
        "endpoint" (X1 itself, two headers) or "drift" (the paper's b and eta, four headers). flow_matching
        predicts the velocity and ddpm the noise by definition; the setting does not apply to them. The skip
        connection carries X_tau into the predicted end state where X_tau already fixes it (late in the jump),
        so the network no longer has to reproduce it to within the remaining noise; on chignolin it took the
        C-alpha neighbours after one jump from 3.99 +/- 0.62 A ("endpoint") to 3.83 +/- 0.12 A (README).
    endpoint_scale_P, endpoint_scale_V: for "preconditioned", the prior scale sigma in Angstrom of the predicted
        X1 - A (A: the transport's origin; for two_sided the jump's displacement X^(t+lag) - X^t): about its
        root-mean-square per coordinate on the training pairs (``python -m openmm_equijump.train`` prints it).
        For chignolin at 350 K and 100 ps, superposed targets: 0.92 A (anchors) and 1.48 A (vectors).
    superpose_target: train on X^(t+lag) superposed onto X^t (C-alpha Kabsch fit: rotation and translation,
        ``superpose``; default) instead of only translated (False: the paper's lab frame). The jump then leaves
        out the whole protein's rotational diffusion, as it leaves out its translation; for chignolin in 100 ps
        that tumbling is most of the displacement (C-alpha RMS per coordinate 3.95 A in the lab frame, 0.92 A
        superposed), which the model otherwise has to learn as noise. Every observable of the analysis is
        invariant to it.
    """

    kind: str = "two_sided"
    sigma_P: float = 3.0
    sigma_V: float = 1.0
    noise_reading: str = "variance"
    parameterization: str = "preconditioned"
    superpose_target: bool = True
    endpoint_scale_P: float = 1.0
    endpoint_scale_V: float = 1.5

    def __post_init__(self) -> None:
        from .transports import TRANSPORTS  # the transports import this module

        if self.kind not in TRANSPORTS:
            raise ValueError(f"InterpolantConfig.kind={self.kind!r} is not a transport; choose one of "
                             f"{sorted(TRANSPORTS)}")
        if self.noise_reading not in NOISE_READINGS:
            raise ValueError(f"InterpolantConfig.noise_reading={self.noise_reading!r}; choose one of {NOISE_READINGS}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"InterpolantConfig.parameterization={self.parameterization!r}; choose one of "
                             f"{PARAMETERIZATIONS}")
        if self.endpoint_scale_P <= 0 or self.endpoint_scale_V <= 0:
            raise ValueError(f"InterpolantConfig endpoint scales must be > 0 Angstrom, got endpoint_scale_P="
                             f"{self.endpoint_scale_P}, endpoint_scale_V={self.endpoint_scale_V}")
        if self.sigma_P <= 0 or self.sigma_V <= 0:
            raise ValueError(f"InterpolantConfig noise numbers must be > 0, got sigma_P={self.sigma_P}, "
                             f"sigma_V={self.sigma_V}")

    @property
    def scale_P(self) -> float:
        """Anchor noise amplitude s_P in Angstrom (gamma_P = s_P tau (1 - tau); prior standard deviation)."""
        return math.sqrt(self.sigma_P) if self.noise_reading == "variance" else self.sigma_P

    @property
    def scale_V(self) -> float:
        """Vector noise amplitude s_V in Angstrom (gamma_V = s_V tau (1 - tau); prior standard deviation)."""
        return math.sqrt(self.sigma_V) if self.noise_reading == "variance" else self.sigma_V


def centred(P: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """Per-residue vectors P (B, N, 3) minus their mean over the real residues of each protein; zero on padding."""
    weight = residue_mask.unsqueeze(-1).to(P.dtype)
    mean = (P * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1.0)
    return (P - mean) * weight


def align_centroid(P1: torch.Tensor, P0: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """P1 (B, N, 3) translated so that its centroid over the real residues is that of P0."""
    return centred(P1, residue_mask) + (P0 - centred(P0, residue_mask))


def superpose(P1: torch.Tensor, V1: torch.Tensor, P0: torch.Tensor, residue_mask: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(P1, V1) moved rigidly onto P0: the proper rotation (Kabsch) and translation that best fit P1's real
    anchors (B, N, 3) onto P0's; the vectors V1 (B, N, 13, 3) turn with the anchors. Padding stays zero."""
    A, B = centred(P1, residue_mask), centred(P0, residue_mask)
    U, _, Vh = torch.linalg.svd(A.transpose(1, 2) @ B)
    R = Vh.transpose(1, 2) @ U.transpose(1, 2)  # B ~ A R^T
    flip = torch.ones_like(R[:, 0])
    flip[:, 2] = torch.sign(torch.linalg.det(R))  # no reflections
    R = Vh.transpose(1, 2) @ torch.diag_embed(flip) @ U.transpose(1, 2)
    rotated_P = A @ R.transpose(1, 2) + (P0 - B)
    return rotated_P * residue_mask.unsqueeze(-1).to(P0.dtype), torch.einsum("bnsi,bji->bnsj", V1, R)


def standard_noise(residue_mask: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype,
                   generator: Optional[torch.Generator]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Standard normal noise for a tensor cloud: Z_P (B, N, 3) centred on the real residues, Z_V (B, N, 13, 3)
    zero on padded slots. Drawn component-wise in the lab frame; the distribution is isotropic, so a rotated
    draw is as likely as the draw itself."""
    B, N, n_slots = mask.shape[0], mask.shape[1], mask.shape[2]
    Z_P = torch.randn([B, N, 3], generator=generator, dtype=dtype, device=mask.device)
    Z_V = torch.randn([B, N, n_slots, 3], generator=generator, dtype=dtype, device=mask.device)
    return centred(Z_P, residue_mask), Z_V * mask.unsqueeze(-1).to(dtype)


def make_interpolant(config: InterpolantConfig) -> torch.nn.Module:
    """The transport module (``transports.base.Transport``) that ``config.kind`` names."""
    from .transports import TRANSPORTS  # the transports import this module

    return TRANSPORTS[config.kind](config)
