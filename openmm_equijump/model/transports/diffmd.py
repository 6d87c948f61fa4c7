"""DiffMD (Wu & Li, AAAI 2023): a variance-exploding score diffusion started at the previous frame, with
acceleration-dependent noise. The SDE, its noise rule, the loss and the latent-step updates; the model that
uses them is ``model.diffmd``.

The jump X^t -> X^(t + lag) is the reverse of the forward SDE (paper's eq. 5), latent time s in [0, 1],
    dx = u sigma_a^s dw,    x(0) = X^(t + lag),
for every cloud coordinate (anchors P, vectors V, Angstrom) with its own sigma_a. Its marginal (eq. 9) is
    x(s) = X^(t + lag) + std(s) Z,    std(s)^2 = u^2 (sigma_a^(2 s) - 1) / (2 ln sigma_a)    (= u^2 s at sigma_a = 1)
and the sampler starts at s = 1 from X^t itself: the paper's prior is the previous frame, read as a noisy copy of
the next one. u (``DiffMDConfig.unit_A``) is the length the SDE is written in: eq. 9 is not invariant to it
(std(1) >= 0.27 u for any sigma_a <= 1e-3), so the paper's Angstrom is replaced by the jump's own scale, the RMS
per coordinate of X^(t + lag) - X^t measured on the training data: at sigma_a = 1 the noise at s = 1 is then as
large as the typical distance between X^t and X^(t + lag), which is the premise of starting from X^t.

Noise rule (eq. 6, README "DiffMD"). For every heavy atom i, a_i = x_i^t - 2 x_i^(t - lag) + x_i^(t - 2 lag)
(Angstrom per lag^2; the latest acceleration known before the jump, the paper's a^(t - 1); earlier frames
superposed onto X^t), r_i = |a_i|^2 / abar^2 and
    sigma_a = sigma_s (1 + eta (1 - r_i)^2)  for r_i < 1,   sigma_s otherwise,
so slow atoms get more noise, as in accelerated MD. The anchor's coordinates take the C-alpha's sigma, each
vector slot its atom's. The paper writes sigma_s eta (|a|^2 - abar)^2, which vanishes at the threshold and jumps
to sigma_s above it; this form is continuous there and keeps eta unit-free.

Loss (eq. 8, denoising score matching with lambda(s) = std(s)^2, the paper's choice): the header "noise" predicts
Z, the score being -Z_hat / std(s); the regression 1/2 |Z_hat|^2 - Z . Z_hat of ``base.regression_loss``.

Sampling: probability-flow ODE dx/ds = -1/2 g^2 score = (d std / ds) Z_hat from s = 1 down to s = eps (the early
stopping of the paper's Table 3: the jump returns x(eps), no final denoising step), on a fixed grid of K steps
uniform in s, Heun (or Euler) in the per-coordinate variable std: a fixed-step solver that scripts, where the
paper uses adaptive RK45 (tolerances 1e-5). Or the predictor-corrector of its Algorithm 1: a reverse-diffusion
predictor x += (std_k^2 - std_(k+1)^2) score + sqrt(std_k^2 - std_(k+1)^2) z, then Langevin corrector steps
x += e score + sqrt(2 e) z with e = 2 (snr |z| / |score|)^2 (Song et al.'s VE corrector; norms per replica).
Anchor updates are projected onto the zero-centroid subspace (``noise.centred``): per-coordinate scales would
otherwise move the C-alpha centroid, which the jump keeps fixed like every transport of the package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ...errors import ConfigError

SOLVERS = ("heun", "euler", "pc")


@dataclass
class DiffMDConfig:
    """The SDE, its noise rule and the network's history (saved with the model; module docstring).

    history: previous frames whose velocities (finite differences X^(t - k lag) - X^(t - (k + 1) lag), k < history)
        condition the network: 0, 1 or 2. The noise rule uses two previous frames whatever the setting.
    sigma_s: sigma_a where the acceleration is at or above the threshold (paper's grid 1e-3 .. 1).
    eta: the harmonic boost constant, unit-free (paper's grid 1e-2 .. 10); 0: sigma_a = sigma_s everywhere.
    accel_threshold_A: abar in Angstrom per lag^2; None: measured when a run starts as the median per-atom |a| of
        the training windows (half the atoms boosted), then stored.
    unit_A: u, the length of the SDE in Angstrom; None: measured when a run starts as the RMS per coordinate of
        X^(t + lag) - X^t on the training windows, then stored.
    s_min: the smallest latent time drawn in training (s ~ U(s_min, 1)); keep it below the sampler's eps.
    """

    history: int = 2
    sigma_s: float = 1.0
    eta: float = 1.0
    accel_threshold_A: Optional[float] = None
    unit_A: Optional[float] = None
    s_min: float = 1e-3

    def __post_init__(self) -> None:
        if self.history not in (0, 1, 2):
            raise ConfigError(f"DiffMDConfig.history={self.history}: the network can see 0, 1 or 2 previous frames")
        if not self.sigma_s > 0 or not self.eta >= 0:
            raise ConfigError(f"DiffMDConfig needs sigma_s > 0 and eta >= 0, got sigma_s={self.sigma_s}, "
                              f"eta={self.eta}")
        for name in ("accel_threshold_A", "unit_A"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"DiffMDConfig.{name} must be > 0 Angstrom (or left out to be measured), got {value}")
        if not 0 < self.s_min < 1:
            raise ConfigError(f"DiffMDConfig.s_min must be in (0, 1), got {self.s_min}")


def boosted_sigma(acceleration: torch.Tensor, sigma_s: float, eta: float, threshold: float) -> torch.Tensor:
    """sigma_a (...) of accelerations (..., 3) (Angstrom per lag^2) under the rule of the module docstring."""
    below = torch.clamp(1.0 - acceleration.pow(2).sum(-1) / (threshold * threshold), min=0.0)
    return sigma_s * (1.0 + eta * below * below)


def marginal_std(s: torch.Tensor, log_sigma: torch.Tensor, unit: float) -> torch.Tensor:
    """std(s) of eq. 9 in Angstrom: u sqrt((sigma^(2 s) - 1) / (2 ln sigma)) for latent times s and ln sigma_a
    (broadcast together)."""
    two_log = 2.0 * log_sigma
    small = two_log.abs() < 1e-6  # the closed form is 0 / 0 at sigma = 1: its series s (1 + s ln sigma) there
    safe = torch.where(small, torch.ones_like(two_log), two_log)
    variance = torch.where(small, s * (1.0 + 0.5 * two_log * s), torch.expm1(s * safe) / safe)
    return unit * variance.sqrt()
