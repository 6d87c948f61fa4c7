"""Flow matching (as in F3low): a velocity header on the one-sided path from the Gaussian prior to X^(t + lag)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from .config import TransportConfig
from .one_sided import OneSidedInterpolant


class FlowMatching(OneSidedInterpolant):
    """The path of ``OneSidedInterpolant``, X_tau = (1 - tau) (A + s Z) + tau X1, learned by one pair of headers:
    the velocity v = dX_tau / dtau = X1 - A - s Z under the loss 1/2 |v|^2 - (X1 - A - s Z) . v (the
    squared-error flow-matching loss up to a constant). ``parameterization`` does not apply.

    Sampling: "ode" mode is flow matching proper, X <- X + v dtau from X_0 = A + s Z. "sde" mode adds the
    interpolant's noise and denoiser term with the denoiser read off the velocity: X_tau - A = tau v + s Z on
    this path, so eta = E[Z | X_tau] = (X_tau - A - tau v) / s (no singularity).
    """

    def __init__(self, config: TransportConfig):
        super().__init__(config)
        self.outputs = ("velocity",)

    def targets(self, P0: torch.Tensor, V0: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor, tau: torch.Tensor,
                Z_P: torch.Tensor, Z_V: torch.Tensor, residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        A_P, A_V = self.origin(P0, V0, residue_mask)
        return {"velocity_P": P1 - A_P - self.scale_P * Z_P, "velocity_V": V1 - A_V - self.scale_V * Z_V}

    def drift_and_denoiser(self, out: Dict[str, torch.Tensor], P0: torch.Tensor, V0: torch.Tensor,
                           P_tau: torch.Tensor, V_tau: torch.Tensor, tau: torch.Tensor, residue_mask: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        A_P, A_V = self.origin(P0, V0, residue_mask)
        v_P, v_V = out["velocity_P"], out["velocity_V"]
        eta_P = (P_tau - A_P - tau.view(-1, 1, 1) * v_P) / self.scale_P
        eta_V = (V_tau - A_V - tau.view(-1, 1, 1, 1) * v_V) / self.scale_V
        return v_P, v_V, eta_P, eta_V
