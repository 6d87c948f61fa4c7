"""The jump: integrate the learned interpolant from X^t (tau = 0) to a sample of X^(t + lag) (tau = 1).

SDE (default), Euler-Maruyama on the grid tau_k = k / K, k = 0 .. K - 1:
    X <- X + (b - eps_k / gamma_k eta) dtau + sqrt(2 eps_k dtau) xi,     xi ~ N(0, I)
ODE: X <- X + b dtau.  Separately for anchors P and vectors V (each has its own gamma, hence its own eps_k).

The eps / gamma singularity. gamma(tau) = s tau (1 - tau) vanishes at tau = 0 and 1, and the denoiser term
eps / gamma eta is stiff near both ends: for an exact eta, one Euler step relaxes the noise by a fraction
a = eps dtau / gamma^2, and a > 2 diverges (with eps = 1 and 100 steps that is every step with
gamma < 0.07 A). Any eps(tau) >= 0 transports the same marginals, so each step uses
    eps_k = min(eps, relaxation_limit * gamma_k^2 / dtau)
which keeps a <= relaxation_limit (default 1: a step never overshoots the conditional mean) and equals the
paper's eps = 1 in the middle of the interval. At tau = 0, gamma = 0 gives eps_0 = 0: the first step is the
pure drift b dtau from X^t, with no denoiser term and no noise (X_0 = X^t exactly, so there is no noise to
remove). The grid never evaluates tau = 1. With relaxation_limit = inf the paper's constant eps is used and
only the tau = 0 step drops the denoiser term (its coefficient eps / 0 is replaced by 0); its noise stays.

The step coefficients eps_k / gamma_k and sqrt(2 eps_k dtau) depend only on k, so they are computed once, on
the host, when the sampler is built: the latent loop never reads a device value back (no synchronization on
an accelerator).

Replicas. Each replica r draws all the noise of its jump from its own ``torch.Generator(device=P.device)``
seeded ``seeds[r]``, in the lab frame, component-wise: a batch of R replicas gives, replica by replica, the
jumps of R separate calls with the same seeds (to float round-off), and the same input and seed give the same
jump (also after ``torch.jit.save`` / ``load``). The noise is
isotropic, so a jump is rotation-equivariant in distribution; ``transport`` takes the noise as an argument,
so a rotated input with rotated noise gives the exactly rotated jump. The anchor noise is centred, like the
anchor drift and denoiser, so the C-alpha centroid does not move (``interpolants``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch

from .interpolants import standard_noise
from .model import EquiJumpModel

MODES = ("sde", "ode")


@dataclass
class SamplerConfig:
    """latent_steps: Euler(-Maruyama) steps per jump (paper: 100). eps: diffusion coefficient (paper: 1.0).
    mode: "sde" or "ode". relaxation_limit: cap on eps dtau / gamma^2 per step (module docstring); inf for the
    paper's constant eps."""

    latent_steps: int = 100
    eps: float = 1.0
    mode: str = "sde"
    relaxation_limit: float = 1.0

    def __post_init__(self) -> None:
        if self.latent_steps < 1:
            raise ValueError(f"SamplerConfig.latent_steps must be >= 1, got {self.latent_steps}")
        if self.mode not in MODES:
            raise ValueError(f"SamplerConfig.mode={self.mode!r}; choose one of {MODES}")
        if self.eps < 0 or not self.relaxation_limit > 0:
            raise ValueError(f"SamplerConfig needs eps >= 0 and relaxation_limit > 0, got eps={self.eps}, "
                             f"relaxation_limit={self.relaxation_limit}")


class JumpSampler(torch.nn.Module):
    """A *transition* for ``export.export_jump_module``: one jump of R replicas of one protein.

    forward(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,) int64, mask (N, 13) bool, seeds: List[int] (R,)) -> (P, V)
    one jump later, V zero on padded slots. Script it with ``e3nn.util.jit.script(sampler, in_place=False)``.
    """

    def __init__(self, model: EquiJumpModel, config: SamplerConfig):
        super().__init__()
        self.model = model
        self.latent_steps = config.latent_steps
        self.eps = config.eps
        self.stochastic = config.mode == "sde"
        self.relaxation_limit = config.relaxation_limit
        dtau = 1.0 / self.latent_steps
        gamma_P, gamma_V = model.interpolant.gamma(torch.arange(self.latent_steps, dtype=torch.float64) * dtau)
        step_P = [self._denoiser_and_noise(float(g), dtau) for g in gamma_P]
        step_V = [self._denoiser_and_noise(float(g), dtau) for g in gamma_V]
        self.denoiser_P, self.noise_scale_P = [a for a, _ in step_P], [n for _, n in step_P]
        self.denoiser_V, self.noise_scale_V = [a for a, _ in step_V], [n for _, n in step_V]

    def settings(self) -> Dict[str, float]:
        """Sampler and noise settings for the jump module's metadata."""
        return {
            "latent_steps": float(self.latent_steps),
            "eps": self.eps,
            "sde": 1.0 if self.stochastic else 0.0,
            "relaxation_limit": self.relaxation_limit,
            "sigma_P": self.model.interpolant_config.sigma_P,
            "sigma_V": self.model.interpolant_config.sigma_V,
            "noise_scale_P_A": self.model.interpolant_config.scale_P,
            "noise_scale_V_A": self.model.interpolant_config.scale_V,
        }

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        R, N = P.shape[0], P.shape[1]
        if len(seeds) != R:
            raise RuntimeError("JumpSampler: got " + str(len(seeds)) + " seeds for " + str(R) + " replicas")
        mask = mask.unsqueeze(0).expand(R, N, mask.shape[-1])
        residue_mask = torch.ones([R, N], dtype=torch.bool, device=P.device)
        steps = self.latent_steps if self.stochastic else 0
        noise_P = torch.zeros([steps, R, N, 3], dtype=P.dtype, device=P.device)
        noise_V = torch.zeros([steps, R, N, mask.shape[-1], 3], dtype=P.dtype, device=P.device)
        if steps > 0:
            for r in range(R):
                generator = torch.Generator(device=P.device)
                generator.manual_seed(seeds[r])
                # all latent steps of replica r in one draw: the K steps play the role of the batch
                noise_P[:, r], noise_V[:, r] = standard_noise(residue_mask[r].expand(steps, N),
                                                              mask[r].expand(steps, N, mask.shape[-1]),
                                                              P.dtype, generator)
        return self.transport(P, V, S.unsqueeze(0).expand(R, N), mask, residue_mask, noise_P, noise_V)

    @torch.jit.export
    def transport(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor, noise_P: torch.Tensor, noise_V: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Integrate tau = 0 -> 1 from X^t = (P, V) with given standard noise.

        P (B, N, 3), V (B, N, 13, 3), S (B, N), mask (B, N, 13), residue_mask (B, N); noise_P (K, B, N, 3) and
        noise_V (K, B, N, 13, 3) centred / masked as ``standard_noise`` draws them (K = latent_steps; unused,
        and may have K = 0, in ODE mode).
        """
        w_V = mask.unsqueeze(-1).to(P.dtype)
        P0 = P * residue_mask.unsqueeze(-1).to(P.dtype)
        V0 = V * w_V
        h = self.model.condition(P0, V0, S, mask, residue_mask)
        dtau = 1.0 / self.latent_steps
        P, V = P0, V0
        for k in range(self.latent_steps):
            tau = torch.full([P.shape[0]], k * dtau, dtype=P.dtype, device=P.device)
            b_P, b_V, eta_P, eta_V = self.model.predict(h, P0, V0, P, V, tau, mask, residue_mask)
            if self.stochastic:
                P = P + (b_P - self.denoiser_P[k] * eta_P) * dtau + self.noise_scale_P[k] * noise_P[k]
                V = V + (b_V - self.denoiser_V[k] * eta_V) * dtau + self.noise_scale_V[k] * noise_V[k]
            else:
                P = P + b_P * dtau
                V = V + b_V * dtau
        return P, V * w_V

    @torch.jit.unused
    def _denoiser_and_noise(self, gamma: float, dtau: float) -> Tuple[float, float]:
        """(eps_k / gamma, sqrt(2 eps_k dtau)) for one Euler-Maruyama step (module docstring)."""
        eps = self.eps
        if gamma <= 0.0:
            eps = eps if math.isinf(self.relaxation_limit) else 0.0
            return 0.0, math.sqrt(2.0 * eps * dtau)
        eps = min(eps, self.relaxation_limit * gamma * gamma / dtau)
        return eps / gamma, math.sqrt(2.0 * eps * dtau)
