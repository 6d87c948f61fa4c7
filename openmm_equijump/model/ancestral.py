"""DDPM's ancestral sampler written on the variance-exploding levels y = x + sigma_tau eps
(``model.structure``), for any denoiser x_hat(y, tau): single structures and windows of frames alike.

From the prior y ~ N(0, (u^2 + sigma_top^2) I) (DDPM's x_T ~ N(0, I) divided by sqrt(abar_T)), each step from
level t to the next lower level s draws from the posterior of the forward chain given x = x_hat(y, t):
    r = sigma_s^2 / sigma_t^2,    y <- x_hat + r (y - x_hat) + sigma_s sqrt(1 - r) z
(the ancestral step of DDPM, and of its respaced form when s < t - 1: Nichol & Dhariwal), and the last step,
to sigma = 0, returns x_hat. z is drawn by the caller (centred per structure: the centroid never moves).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional

import torch


def respaced_levels(levels: int, steps: int) -> List[int]:
    """``steps`` levels from T down to 1, evenly spaced (T first), then 0: the levels a sampler visits."""
    if steps < 1:
        raise ValueError(f"the sampler needs steps >= 1, got {steps}")
    steps = min(steps, levels)
    chosen = sorted({round(levels - k * (levels - 1) / max(steps - 1, 1)) for k in range(steps)}, reverse=True)
    return chosen + [0]


def prior_std_A(sigma_top_A: float, unit_A: float) -> float:
    """The prior's standard deviation (A) at the top level visited: sqrt(u^2 + sigma_top^2)."""
    return math.sqrt(unit_A ** 2 + sigma_top_A ** 2)


def ancestral_step(y: torch.Tensor, x_hat: torch.Tensor, sigma_t: float, sigma_s: float,
                   z: Optional[torch.Tensor]) -> torch.Tensor:
    """One step from level t (noise sigma_t, A) to level s < t given x_hat = x_hat(y, t) and a standard draw z
    (None when s is 0: the step returns x_hat) (module docstring)."""
    if sigma_s == 0.0:
        return x_hat
    if z is None:
        raise RuntimeError("ancestral_step: a step to a level above 0 needs a standard draw z")
    r = sigma_s ** 2 / sigma_t ** 2
    return x_hat + r * (y - x_hat) + sigma_s * math.sqrt(1.0 - r) * z


def ancestral_sample(denoise: Callable[[torch.Tensor, int], torch.Tensor], noise: Callable[[], torch.Tensor],
                     sigma: List[float], schedule: List[int], unit_A: float) -> torch.Tensor:
    """A sample: ``denoise(y, tau)`` x_hat of the state y at level tau; ``noise()`` a standard draw shaped like
    the state (Angstrom); ``sigma`` the levels' noise in Angstrom (index tau); ``schedule`` the levels visited,
    decreasing to 0 (``respaced_levels``); ``unit_A`` u of the prior. (Windows with given frames are sampled by
    ``model.blocks.WindowDenoiser.sample``, scripted, with the same steps.)"""
    y = prior_std_A(sigma[schedule[0]], unit_A) * noise()
    for t, s in zip(schedule[:-1], schedule[1:]):
        y = ancestral_step(y, denoise(y, t), sigma[t], sigma[s], noise() if s > 0 else None)
    return y
