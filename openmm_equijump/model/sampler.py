"""The jump: integrate the model's transport from tau = 0 to a sample of X^(t + lag) at tau = 1, given X^t.

The transport (``EquiJumpModel.transport``, one of ``transports.TRANSPORTS``) supplies the start state (X^t
itself, or a Gaussian prior centred on X^t's anchor centroid) and the update of one latent step; the sampler
runs the conditioner once on X^t, the headers at every tau_k = k / K, k = 0 .. K - 1, and owns the noise:
    mode "sde": the transport's stochastic sampler (interpolants: Euler-Maruyama of the SDE; DDPM: ancestral)
    mode "ode": its deterministic one (interpolants and flow matching: Euler on the ODE; DDPM: DDIM)
(see ``transports.interpolant`` and ``transports.ddpm`` for the updates, and for how the interpolants handle
the eps / gamma singularity).
The two-sided interpolant's ODE starts from the single point X^t and draws no noise: its jump is the same for
every seed, a mean-like jump rather than a sample of X^(t + lag) (on a Gaussian jump it has zero spread,
``tests/model/test_transports.py``); the transports that start from a prior sample in both modes.

The step coefficients of step k depend only on k, so the transport tabulates them (``schedule``) once, on the
host, when the sampler is built: the latent loop never reads a device value back (no synchronization on an
accelerator).

Replicas. Each replica r draws all the noise of its jump (the prior draw, if the transport has one, then one
draw per latent step in SDE mode) from its own CPU ``torch.Generator`` seeded ``seeds[r]`` (on any device), in the
lab frame, component-wise: a batch of R replicas gives, replica by replica, the jumps of R separate calls with
the same seeds (to float round-off), and the same input and seed give the same jump (also after
``torch.jit.save`` / ``load``). The noise is isotropic, so a jump is rotation-equivariant in distribution;
``transport`` takes the noise as an argument, so a rotated input with rotated noise gives the exactly rotated
jump. The anchor noise is centred, like the anchor outputs of the headers, and priors are centred on X^t's
anchor centroid, so the C-alpha centroid does not move (``transports.noise``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from .transports.noise import seeded_generator, standard_noise
from .network import EquiJumpModel

MODES = ("sde", "ode")


@dataclass
class SamplerConfig:
    """latent_steps: steps per jump (paper: 100). mode: "sde" or "ode" (module docstring). eps: diffusion
    coefficient of the interpolants' SDE (paper: 1.0). relaxation_limit: cap on eps dtau / gamma^2 per step
    (``transports.interpolant``); inf for the paper's constant eps. eps and relaxation_limit do not apply to
    ddpm. projection_iterations: sweeps of the covalent-geometry projection after each jump (``covalent``;
    0: none)."""

    latent_steps: int = 100
    eps: float = 1.0
    mode: str = "sde"
    relaxation_limit: float = 1.0
    projection_iterations: int = 500

    def __post_init__(self) -> None:
        if self.latent_steps < 1:
            raise ValueError(f"SamplerConfig.latent_steps must be >= 1, got {self.latent_steps}")
        if self.mode not in MODES:
            raise ValueError(f"SamplerConfig.mode={self.mode!r}; choose one of {MODES}")
        if self.projection_iterations < 0:
            raise ValueError(f"SamplerConfig.projection_iterations must be >= 0, got {self.projection_iterations}")
        if self.eps < 0 or not self.relaxation_limit > 0:
            raise ValueError(f"SamplerConfig needs eps >= 0 and relaxation_limit > 0, got eps={self.eps}, "
                             f"relaxation_limit={self.relaxation_limit}")


def replica_noise(residue_mask: torch.Tensor, mask: torch.Tensor, seeds: List[int], draws: int,
                  dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """``draws`` standard-noise draws for each of R replicas: noise_P (draws, R, N, 3) centred, noise_V (draws,
    R, N, 13, 3) masked (``standard_noise``), replica r's from a CPU generator seeded seeds[r] alone, on the
    masks' device. residue_mask (R, N), mask (R, N, 13)."""
    R, N, slots = mask.shape[0], mask.shape[1], mask.shape[2]
    noise_P = torch.zeros([draws, R, N, 3], dtype=dtype, device=mask.device)
    noise_V = torch.zeros([draws, R, N, slots, 3], dtype=dtype, device=mask.device)
    if draws > 0:
        # Noise is drawn on the CPU and copied over: TorchScript cannot make a CUDA generator, and a seed
        # then gives the same jump on every device.
        residue_mask_cpu, mask_cpu = residue_mask.cpu(), mask.cpu()
        for r in range(R):
            generator = seeded_generator(seeds[r], mask_cpu)
            # all draws of replica r at once: the draws play the role of the batch
            draw_P, draw_V = standard_noise(residue_mask_cpu[r].expand(draws, N),
                                            mask_cpu[r].expand(draws, N, slots), dtype, generator)
            noise_P[:, r], noise_V[:, r] = draw_P.to(mask.device), draw_V.to(mask.device)
    return noise_P, noise_V


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
        self.prior_draws = model.transport.prior_draws
        self.noise_draws = self.prior_draws + (self.latent_steps if self.stochastic else 0)
        self.steps = model.transport.schedule(self.latent_steps, self.eps, self.relaxation_limit, self.stochastic)

    def settings(self) -> Dict[str, float]:
        """Sampler and noise settings for the jump module's metadata."""
        return {
            "latent_steps": float(self.latent_steps),
            "eps": self.eps,
            "sde": 1.0 if self.stochastic else 0.0,
            "relaxation_limit": self.relaxation_limit,
            "sigma_P": self.model.transport_config.sigma_P,
            "sigma_V": self.model.transport_config.sigma_V,
            "noise_scale_P_A": self.model.transport_config.scale_P,
            "noise_scale_V_A": self.model.transport_config.scale_V,
        }

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        R, N = P.shape[0], P.shape[1]
        if len(seeds) != R:
            raise RuntimeError("JumpSampler: got " + str(len(seeds)) + " seeds for " + str(R) + " replicas")
        # contiguous once per jump: a compiled network reads contiguous inputs at every latent step
        mask = mask.unsqueeze(0).expand(R, N, mask.shape[-1]).contiguous()
        residue_mask = torch.ones([R, N], dtype=torch.bool, device=P.device)
        noise_P, noise_V = replica_noise(residue_mask, mask, seeds, self.noise_draws, P.dtype)
        return self.transport(P, V, S.unsqueeze(0).expand(R, N).contiguous(), mask, residue_mask, noise_P, noise_V)

    @torch.jit.export
    def transport(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor, noise_P: torch.Tensor, noise_V: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Carry X^t = (P, V) from tau = 0 to 1 with given standard noise.

        P (B, N, 3), V (B, N, 13, 3), S (B, N), mask (B, N, 13), residue_mask (B, N); noise_P (D, B, N, 3) and
        noise_V (D, B, N, 13, 3) centred / masked as ``standard_noise`` draws them, D = ``noise_draws``: first
        the transport's prior draw (``prior_draws`` of them, 0 or 1), then one per latent step in SDE mode.
        """
        w_V = mask.unsqueeze(-1).to(P.dtype)
        P0 = P * residue_mask.unsqueeze(-1).to(P.dtype)
        V0 = V * w_V
        h = self.model.condition(P0, V0, S, mask, residue_mask)
        prior_P: Optional[torch.Tensor] = None
        prior_V: Optional[torch.Tensor] = None
        if self.prior_draws > 0:
            prior_P, prior_V = noise_P[0], noise_V[0]
        P, V = self.model.transport.start(P0, V0, prior_P, prior_V, residue_mask)
        for k in range(self.latent_steps):
            row = self.steps[k]
            tau = torch.full([P.shape[0]], row[0], dtype=P.dtype, device=P.device)
            out = self.model.run_headers(h, P0, V0, P, V, tau, mask, residue_mask)
            step_P: Optional[torch.Tensor] = None
            step_V: Optional[torch.Tensor] = None
            if self.stochastic:
                step_P, step_V = noise_P[self.prior_draws + k], noise_V[self.prior_draws + k]
            P, V = self.model.transport.step(out, P0, V0, P, V, tau, row, step_P, step_V, residue_mask)
        return P, V * w_V
