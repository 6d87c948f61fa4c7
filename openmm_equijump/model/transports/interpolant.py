"""Stochastic interpolants X_tau = (1 - tau) A + tau X1 + gamma(tau) Z, the family of the two-sided and the
one-sided interpolant (they differ in the origin A and the noise profile gamma).

Drift b = E[X1 - A + gamma'(tau) Z | X_tau] and denoiser eta = E[Z | X_tau]; the sampler integrates
    SDE  X <- X + (b - eps_k / gamma_k eta) dtau + sqrt(2 eps_k dtau) xi,   xi ~ N(0, I)
    ODE  X <- X + b dtau
on the grid tau_k = k / K, k = 0 .. K - 1, from X_0 = A + gamma(0) Z, separately for anchors P and vectors V
(each has its own gamma, hence its own eps_k).

The eps / gamma singularity. Where gamma vanishes (tau = 0 and 1 for the two-sided, tau = 1 for the one-sided)
the denoiser term eps / gamma eta is stiff: for an exact eta, one Euler step relaxes the noise by a fraction
a = eps dtau / gamma^2, and a > 2 diverges (with eps = 1 and 100 steps that is every step with
gamma < 0.07 A). Any eps(tau) >= 0 transports the same marginals, so each step uses
    eps_k = min(eps, relaxation_limit * gamma_k^2 / dtau)
which keeps a <= relaxation_limit (default 1: a step never overshoots the conditional mean) and equals the
paper's eps = 1 in the middle of the interval. Where gamma_k = 0 (the two-sided interpolant's tau = 0, where
X_0 = X^t holds no noise to remove) eps_k = 0: the step is the pure drift b dtau. The grid never evaluates
tau = 1. With relaxation_limit = inf the paper's constant eps is used and only a gamma_k = 0 step drops the
denoiser term (its coefficient eps / 0 is replaced by 0); its noise stays.

Parameterization (``TransportConfig.parameterization``): "drift" (the paper): headers b and eta, each learned
by its own loss. "endpoint": one header x1 predicting the end state as the displacement D = X1 - X^t under a
squared-error loss; b and eta then follow exactly from X_tau, because given X_tau and A the noise is fixed by X1:
    eta = (X_tau - A - tau (X^t + D - A)) / gamma,      b = X^t + D - A + gamma'(tau) eta
(minimizers map to minimizers: E[X1 | X_tau] fixes E[Z | X_tau] and E[b | X_tau]). An untrained "endpoint"
network predicts D ~ 0 (the jump ends near X^t with intact geometry); an untrained "drift" network leaves the
sampler's noise in the structure (eta ~ 0 removes none of it).

"preconditioned": the end state with the skip connection of a denoiser (Karras et al. 2022, EDM). With
U = X_tau - A = tau W + gamma Z, W = X1 - A and a Gaussian prior W ~ N(0, sigma^2 I) (sigma: ``endpoint_scale_P``,
``endpoint_scale_V``), the posterior mean of W given U is (sigma^2 tau / q^2) U, q^2 = tau^2 sigma^2 + gamma^2,
and its residual has standard deviation sigma gamma / q. The header predicts the normalized residual F:
    W = (sigma^2 tau / q^2) U + (sigma gamma / q) F,     eta = (gamma / q^2) U - (tau sigma / q) F
with target F* = (gamma W - sigma^2 tau Z) / (sigma q) (unit scale at every tau). So where X_tau already fixes the
end state (tau -> 1) the skip carries it exactly and the network only supplies -Z, which the sampler scales by
gamma; in the plain "endpoint" form the network itself must reproduce X_tau - X^t to within gamma there, and
its error is the error of the jump.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch

from .config import TransportConfig
from .base import Transport


def relaxed_denoiser_and_noise(gamma: float, dtau: float, eps: float, relaxation_limit: float
                               ) -> Tuple[float, float]:
    """(eps_k / gamma, sqrt(2 eps_k dtau)) for one Euler-Maruyama step (module docstring)."""
    if gamma <= 0.0:
        eps = eps if math.isinf(relaxation_limit) else 0.0
        return 0.0, math.sqrt(2.0 * eps * dtau)
    eps = min(eps, relaxation_limit * gamma * gamma / dtau)
    return eps / gamma, math.sqrt(2.0 * eps * dtau)


class StochasticInterpolant(Transport):
    """X_tau = (1 - tau) A + tau X1 + gamma(tau) Z with gamma = s profile(tau), separately for P and V.

    Subclasses define ``origin(P0, V0, residue_mask) -> (A_P, A_V)`` and ``profile(tau) -> (profile,
    its derivative)`` (tensors like tau).
    Losses (``Transport.loss``) have the targets b = X1 - A + gamma' Z and eta = Z ("drift") or
    x1 = X1 - X^t ("endpoint").
    """

    def __init__(self, config: TransportConfig):
        super().__init__(config)
        self.endpoint = config.parameterization == "endpoint"
        self.preconditioned = config.parameterization == "preconditioned"
        self.outputs = ("b", "eta") if config.parameterization == "drift" else ("x1",)
        self.endpoint_scale_P = config.endpoint_scale_P
        self.endpoint_scale_V = config.endpoint_scale_V
        start_P, start_V = self.gamma(torch.zeros(1, dtype=torch.float64))
        self.start_scale_P = float(start_P)
        self.start_scale_V = float(start_V)

    def gamma(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        g, _ = self.profile(tau)
        return self.scale_P * g, self.scale_V * g

    def gamma_dot(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        _, g = self.profile(tau)
        return self.scale_P * g, self.scale_V * g

    def interpolate(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor,
                    tau: torch.Tensor, Z_P: torch.Tensor, Z_V: torch.Tensor, residue_mask: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """tau (B,) -> P_tau (B, N, 3), V_tau (B, N, 13, 3); masking follows from masked inputs and noise."""
        A_P, A_V = self.origin(P0, V0, residue_mask)
        t_P = tau.view(-1, 1, 1)
        t_V = tau.view(-1, 1, 1, 1)
        gamma_P, gamma_V = self.gamma(tau)
        P_tau = (1.0 - t_P) * A_P + t_P * P1 + gamma_P.view(-1, 1, 1) * Z_P
        V_tau = (1.0 - t_V) * A_V + t_V * V1 + gamma_V.view(-1, 1, 1, 1) * Z_V
        return P_tau, V_tau

    def targets(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor, tau: torch.Tensor,
                Z_P: torch.Tensor, Z_V: torch.Tensor, residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.endpoint:
            return {"x1_P": P1 - P0, "x1_V": V1 - V0}
        A_P, A_V = self.origin(P0, V0, residue_mask)
        if self.preconditioned:
            tau, gamma_P, gamma_V = self._clamped_tau_and_gamma(tau)
            return {"x1_P": _preconditioned_target(P1 - A_P, Z_P, tau.view(-1, 1, 1), gamma_P.view(-1, 1, 1),
                                                   self.endpoint_scale_P),
                    "x1_V": _preconditioned_target(V1 - A_V, Z_V, tau.view(-1, 1, 1, 1), gamma_V.view(-1, 1, 1, 1),
                                                   self.endpoint_scale_V)}
        gamma_dot_P, gamma_dot_V = self.gamma_dot(tau)
        return {"b_P": P1 - A_P + gamma_dot_P.view(-1, 1, 1) * Z_P,
                "b_V": V1 - A_V + gamma_dot_V.view(-1, 1, 1, 1) * Z_V,
                "eta_P": Z_P, "eta_V": Z_V}

    def drift_and_denoiser(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor,
                           P_tau: torch.Tensor, V_tau: torch.Tensor, tau: torch.Tensor, residue_mask: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Header outputs -> (b_P (B, N, 3), b_V (B, N, 13, 3), eta_P, eta_V) at latent time tau (B,)."""
        if not self.endpoint and not self.preconditioned:
            return out["b_P"], out["b_V"], out["eta_P"], out["eta_V"]
        A_P, A_V = self.origin(P0, V0, residue_mask)
        gamma_P, gamma_V = self.gamma(tau)
        gamma_dot_P, gamma_dot_V = self.gamma_dot(tau)
        if self.preconditioned:
            t, g_P, g_V = self._clamped_tau_and_gamma(tau)
            b_P, eta_P = _drift_and_denoiser_preconditioned(
                out["x1_P"], P_tau - A_P, t.view(-1, 1, 1), g_P.view(-1, 1, 1), self.endpoint_scale_P,
                gamma_P.view(-1, 1, 1), gamma_dot_P.view(-1, 1, 1))
            b_V, eta_V = _drift_and_denoiser_preconditioned(
                out["x1_V"], V_tau - A_V, t.view(-1, 1, 1, 1), g_V.view(-1, 1, 1, 1), self.endpoint_scale_V,
                gamma_V.view(-1, 1, 1, 1), gamma_dot_V.view(-1, 1, 1, 1))
            return b_P, b_V, eta_P, eta_V
        # X1 - A = D + (X^t - A): exactly D for the two-sided interpolant (A = X^t)
        b_P, eta_P = _drift_and_denoiser_from_endpoint(out["x1_P"] + (P0 - A_P), P_tau - A_P, tau.view(-1, 1, 1),
                                                       gamma_P.view(-1, 1, 1), gamma_dot_P.view(-1, 1, 1))
        b_V, eta_V = _drift_and_denoiser_from_endpoint(out["x1_V"] + (V0 - A_V), V_tau - A_V, tau.view(-1, 1, 1, 1),
                                                       gamma_V.view(-1, 1, 1, 1), gamma_dot_V.view(-1, 1, 1, 1))
        return b_P, b_V, eta_P, eta_V

    def _clamped_tau_and_gamma(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tau >= 1e-6 and its gamma_P, gamma_V: the preconditioning's coefficients at tau = 0 are their limits
        (for the two-sided interpolant tau and gamma vanish together there)."""
        tau = tau.clamp(min=1e-6)
        gamma_P, gamma_V = self.gamma(tau)
        return tau, gamma_P, gamma_V

    @torch.jit.unused
    def schedule(self, latent_steps: int, eps: float, relaxation_limit: float, stochastic: bool
                 ) -> List[List[float]]:
        """Row k: [tau_k, dtau, eps_k / gamma_P, sqrt(2 eps_k dtau) for P, the same two for V]; the denoiser
        coefficients are 0 in ODE mode."""
        dtau = 1.0 / latent_steps
        tau = torch.arange(latent_steps, dtype=torch.float64) * dtau
        gamma_P, gamma_V = self.gamma(tau)
        rows = []
        for k in range(latent_steps):
            row = [float(tau[k]), dtau]
            for gamma in (float(gamma_P[k]), float(gamma_V[k])):
                denoiser, noise = relaxed_denoiser_and_noise(gamma, dtau, eps, relaxation_limit)
                row += [denoiser, noise] if stochastic else [0.0, 0.0]
            rows.append(row)
        return rows

    def start(self, P0: torch.Tensor, V0: torch.Tensor, prior_P: Optional[torch.Tensor],
              prior_V: Optional[torch.Tensor], residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """X_0 = A + gamma(0) Z (prior_* = Z; None where gamma(0) = 0)."""
        A_P, A_V = self.origin(P0, V0, residue_mask)
        if prior_P is None or prior_V is None:
            return A_P, A_V
        return A_P + self.start_scale_P * prior_P, A_V + self.start_scale_V * prior_V

    def step(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor, P: torch.Tensor,
             V: torch.Tensor, tau: torch.Tensor, row: List[float], noise_P: Optional[torch.Tensor],
             noise_V: Optional[torch.Tensor], residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One Euler(-Maruyama) step with the coefficients of ``row`` (``schedule``)."""
        b_P, b_V, eta_P, eta_V = self.drift_and_denoiser(out, P0, V0, P, V, tau, residue_mask)
        dtau = row[1]
        P = P + (b_P - row[2] * eta_P) * dtau
        V = V + (b_V - row[4] * eta_V) * dtau
        if noise_P is not None and noise_V is not None:
            P = P + row[3] * noise_P
            V = V + row[5] * noise_V
        return P, V


def _drift_and_denoiser_from_endpoint(X1_from_A: torch.Tensor, X_tau_from_A: torch.Tensor, tau: torch.Tensor,
                                      gamma: torch.Tensor, gamma_dot: torch.Tensor
                                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(b, eta) implied by the predicted end state, given as X1 - A, and X_tau - A (module docstring); eta = 0
    where gamma = 0 (X_tau holds no noise to remove there)."""
    noisy = gamma > 0
    eta = (X_tau_from_A - tau * X1_from_A) / torch.where(noisy, gamma, torch.ones_like(gamma)) * noisy.to(gamma.dtype)
    return X1_from_A + gamma_dot * eta, eta


def _observation_variance(tau: torch.Tensor, gamma: torch.Tensor, sigma: float) -> torch.Tensor:
    """q^2 = tau^2 sigma^2 + gamma^2, the variance of U = tau W + gamma Z under the prior W ~ N(0, sigma^2)."""
    return tau * tau * sigma * sigma + gamma * gamma


def _preconditioned_target(W: torch.Tensor, Z: torch.Tensor, tau: torch.Tensor, gamma: torch.Tensor,
                           sigma: float) -> torch.Tensor:
    """F* = (gamma W - sigma^2 tau Z) / (sigma q) (module docstring)."""
    q = torch.sqrt(_observation_variance(tau, gamma, sigma))
    return (gamma * W - sigma * sigma * tau * Z) / (sigma * q)


def _drift_and_denoiser_preconditioned(F: torch.Tensor, U: torch.Tensor, tau: torch.Tensor, gamma: torch.Tensor,
                                       sigma: float, gamma_exact: torch.Tensor, gamma_dot: torch.Tensor
                                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(b, eta) from the header output F and U = X_tau - A (module docstring); tau, gamma clamped away from the
    two-sided interpolant's tau = 0. Where the exact gamma_exact = 0 (there X_tau = A holds neither noise nor
    information on W) eta = 0 and W = E[W | X^t] = F / (gamma / (sigma q)), the limit of F*'s regression on X^t
    alone; elsewhere W and eta as in the module docstring."""
    q2 = _observation_variance(tau, gamma, sigma)
    q = torch.sqrt(q2)
    noisy = gamma_exact > 0
    W = torch.where(noisy, (sigma * sigma * tau / q2) * U + (sigma * gamma / q) * F, (sigma * q / gamma) * F)
    eta = ((gamma / q2) * U - (tau * sigma / q) * F) * noisy.to(F.dtype)
    return W + gamma_dot * eta, eta
