"""The two-sided interpolant (EquiJump): from X^t itself to X^(t + lag), gamma(tau) = s tau (1 - tau)."""
from __future__ import annotations

from typing import Tuple

import torch

from .interpolant import StochasticInterpolant


class TwoSidedInterpolant(StochasticInterpolant):
    """X_tau = (1 - tau) X^t + tau X1 + s tau (1 - tau) Z: A = X^t, so the jump starts at X^t (no prior draw)
    and the latent path stays within a few Angstrom of the data (``interpolant``)."""

    prior_draws = 0

    def origin(self, P0: torch.Tensor, V0: torch.Tensor, residue_mask: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        return P0, V0

    def profile(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return tau * (1.0 - tau), 1.0 - 2.0 * tau
