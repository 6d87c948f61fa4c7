"""``TransportConfig``: which transport learns the jump, and its noise scales.

Transports (``transports``: one module each, behind the same network, export and jump module):
    two_sided      EquiJump's two-sided interpolant, X^t -> X^(t + lag) directly (default)
    one_sided      one-sided stochastic interpolant, Gaussian prior -> X^(t + lag) (as in MDGen)
    flow_matching  velocity header on the one-sided path, ODE from the prior (as in F3low)
    ddpm           noise header, ancestral sampling from the prior (as in ITO)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import ConfigError

NOISE_READINGS = ("variance", "scale")
PARAMETERIZATIONS = ("drift", "endpoint", "preconditioned")
#: The names of ``transports.TRANSPORTS`` (a test keeps the two in step).
KINDS = ("two_sided", "one_sided", "flow_matching", "ddpm")


@dataclass
class TransportConfig:
    """The transport and its noise scales.

    kind: the transport, one of ``KINDS``: "two_sided" (EquiJump, default), "one_sided",
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
        if self.kind not in KINDS:
            raise ConfigError(f"TransportConfig.kind={self.kind!r} is not a transport; choose one of {KINDS}")
        if self.noise_reading not in NOISE_READINGS:
            raise ConfigError(f"TransportConfig.noise_reading={self.noise_reading!r}; choose one of {NOISE_READINGS}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ConfigError(f"TransportConfig.parameterization={self.parameterization!r}; choose one of "
                             f"{PARAMETERIZATIONS}")
        if self.endpoint_scale_P <= 0 or self.endpoint_scale_V <= 0:
            raise ConfigError(f"TransportConfig endpoint scales must be > 0 Angstrom, got endpoint_scale_P="
                             f"{self.endpoint_scale_P}, endpoint_scale_V={self.endpoint_scale_V}")
        if self.sigma_P <= 0 or self.sigma_V <= 0:
            raise ConfigError(f"TransportConfig noise numbers must be > 0, got sigma_P={self.sigma_P}, "
                             f"sigma_V={self.sigma_V}")

    @property
    def scale_P(self) -> float:
        """Anchor noise amplitude s_P in Angstrom (gamma_P = s_P tau (1 - tau); prior standard deviation)."""
        return math.sqrt(self.sigma_P) if self.noise_reading == "variance" else self.sigma_P

    @property
    def scale_V(self) -> float:
        """Vector noise amplitude s_V in Angstrom (gamma_V = s_V tau (1 - tau); prior standard deviation)."""
        return math.sqrt(self.sigma_V) if self.noise_reading == "variance" else self.sigma_V
