"""The one-sided stochastic interpolant (as in MDGen): from a Gaussian prior to X^(t + lag), conditioned on X^t
through the conditioner only."""
from __future__ import annotations

from typing import Tuple

import torch

from .base import prior_centre
from .interpolant import StochasticInterpolant


class OneSidedInterpolant(StochasticInterpolant):
    """X_tau = (1 - tau) A + tau X1 + s (1 - tau) Z with A = (anchor centroid of X^t, 0 for the vectors): the
    jump starts from the prior X_0 = A + s Z, i.e. anchors N(centroid of X^t, s_P^2 I) and vectors
    N(0, s_V^2 I), and the noise vanishes at tau = 1 only (``interpolant``)."""

    prior_draws = 1

    def origin(self, P0: torch.Tensor, V0: torch.Tensor, residue_mask: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        return prior_centre(P0, residue_mask), torch.zeros_like(V0)

    def profile(self, tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return 1.0 - tau, -torch.ones_like(tau)
