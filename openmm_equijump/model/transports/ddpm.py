"""DDPM (as in ITO and two-for-one diffusion): a noise header, ancestral sampling from the Gaussian prior.

Variance-preserving path around the prior centre A = (anchor centroid of X^t, 0 for the vectors):
    X_tau = A + sqrt(abar(tau)) (X1 - A) + sqrt(1 - abar(tau)) s Z,    abar(tau) = a0 + (1 - a0) sin^2(pi tau / 2)
(the cosine schedule of Nichol & Dhariwal in the latent time tau = 1 - t, running from the prior at tau = 0 to
the data at tau = 1; s = s_P or s_V). The headers predict the noise, eps = E[Z | X_tau], under the loss
1/2 |eps|^2 - Z . eps.

The floor a0 = 0.01 (signal-to-noise 1 %) bounds the first step: it multiplies x by sqrt(abar(tau_1) / a0)
and the error of the predicted noise by about as much (3.9 at K = 4, 1.3 at K = 20, 1.01 at K = 100; with
a0 = 1e-4, 38 at K = 4 carried a barely trained network's chignolin to hundreds of Angstrom). The start is the
tau = 0 marginal with X^t standing in for the unknown X1 in its 10 % signal share:
X_0 = A + sqrt(a0) (X^t - A) + sqrt(1 - a0) s Z (a jump moves the structure little next to s). Ancestral
sampling forgets the error this makes; DDIM carries up to sqrt(a0) = 10 % of the mean displacement X1 - X^t
into the jump's mean (measured on a Gaussian jump: ``tests/model/test_transports.py``).

Sampling on the grid tau_k = k / K from X_0, one DDIM step (Song et al.) from abar_t = abar(tau_k) to
abar_s = abar(tau_(k+1)):
    x1_hat = (x - sqrt(1 - abar_t) s eps) / sqrt(abar_t)
    x <- sqrt(abar_s) x1_hat + sqrt(1 - abar_s - sigma^2) s eps + sigma s xi,
    sigma^2 = eta^2 (1 - abar_s) / (1 - abar_t) (1 - abar_t / abar_s)
with x = X - A: "sde" mode is eta = 1, DDPM's ancestral step (the posterior q(x_s | x_t, x1_hat)); "ode" mode
is eta = 0, DDIM. The last step reaches abar = 1 and returns x1_hat. The sampler's eps and relaxation_limit
do not apply.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch

from .config import TransportConfig
from .base import Transport, prior_centre

ABAR_FLOOR = 1e-2


class DDPM(Transport):
    """Noise headers ("noise": noise_P, noise_V) on the variance-preserving path of the module docstring."""

    prior_draws = 1

    def __init__(self, config: TransportConfig):
        super().__init__(config)
        self.outputs = ("noise",)
        self.start_signal = math.sqrt(ABAR_FLOOR)
        self.start_noise = math.sqrt(1.0 - ABAR_FLOOR)

    def alpha_bar(self, tau: torch.Tensor) -> torch.Tensor:
        """abar(tau) (tensor like tau): ABAR_FLOOR at tau = 0, 1 at tau = 1."""
        return ABAR_FLOOR + (1.0 - ABAR_FLOOR) * torch.sin(0.5 * math.pi * tau) ** 2

    def origin(self, P0: torch.Tensor, V0: torch.Tensor, residue_mask: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        return prior_centre(P0, residue_mask), torch.zeros_like(V0)

    def interpolate(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor,
                    tau: torch.Tensor, Z_P: torch.Tensor, Z_V: torch.Tensor, residue_mask: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        A_P, A_V = self.origin(P0, V0, residue_mask)
        abar = self.alpha_bar(tau)
        signal, noise = abar.sqrt(), (1.0 - abar).sqrt()
        P_tau = A_P + signal.view(-1, 1, 1) * (P1 - A_P) + noise.view(-1, 1, 1) * self.scale_P * Z_P
        V_tau = A_V + signal.view(-1, 1, 1, 1) * (V1 - A_V) + noise.view(-1, 1, 1, 1) * self.scale_V * Z_V
        return P_tau, V_tau

    def targets(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor, tau: torch.Tensor,
                Z_P: torch.Tensor, Z_V: torch.Tensor, residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"noise_P": Z_P, "noise_V": Z_V}

    @torch.jit.unused
    def schedule(self, latent_steps: int, eps: float, relaxation_limit: float, stochastic: bool
                 ) -> List[List[float]]:
        """Row k: [tau_k, dtau, a, c_P, n_P, c_V, n_V] for the step x <- a x - c eps + n xi (module docstring)."""
        dtau = 1.0 / latent_steps
        abar = self.alpha_bar(torch.arange(latent_steps + 1, dtype=torch.float64) * dtau).tolist()
        abar[-1] = 1.0
        rows = []
        for k in range(latent_steps):
            t, s = abar[k], abar[k + 1]
            variance = (1.0 - s) / (1.0 - t) * (1.0 - t / s) if stochastic else 0.0
            a = math.sqrt(s / t)
            c = a * math.sqrt(1.0 - t) - math.sqrt(max(1.0 - s - variance, 0.0))
            n = math.sqrt(variance)
            rows.append([k * dtau, dtau, a, c * self.scale_P, n * self.scale_P, c * self.scale_V, n * self.scale_V])
        return rows

    def start(self, P0: torch.Tensor, V0: torch.Tensor, prior_P: Optional[torch.Tensor],
              prior_V: Optional[torch.Tensor], residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        A_P, A_V = self.origin(P0, V0, residue_mask)
        if prior_P is None or prior_V is None:
            raise RuntimeError("DDPM.start needs the prior draw (prior_draws = 1)")
        return (A_P + self.start_signal * (P0 - A_P) + self.start_noise * self.scale_P * prior_P,
                A_V + self.start_signal * (V0 - A_V) + self.start_noise * self.scale_V * prior_V)

    def step(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor, P: torch.Tensor,
             V: torch.Tensor, tau: torch.Tensor, row: List[float], noise_P: Optional[torch.Tensor],
             noise_V: Optional[torch.Tensor], residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        A_P, A_V = self.origin(P0, V0, residue_mask)
        P = A_P + row[2] * (P - A_P) - row[3] * out["noise_P"]
        V = A_V + row[2] * (V - A_V) - row[5] * out["noise_V"]
        if noise_P is not None and noise_V is not None:
            P = P + row[4] * noise_P
            V = V + row[6] * noise_V
        return P, V
