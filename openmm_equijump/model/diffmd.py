"""DiffMD: the score network conditioned on the previous frames, its training loss, and the jump as a stateful
transition (the SDE, noise rule and updates: ``transports.diffmd``).

A window is (X^(t - 2 lag), X^(t - lag), X^t, X^(t + lag)) as tensor clouds in Angstrom; the history frames and
the target are superposed onto X^t (C-alpha Kabsch), so velocities and the jump leave out the protein's tumbling
as the other transports' superposed targets do. History frames travel as "stacked clouds" H (B, 2, N, 14, 3):
slot 0 the anchor P, slots 1..13 the vectors V, newest frame first.

The network is the package's (``EquiJumpNetwork``, one header pair "noise"); its conditioner reads X^t's 13
vectors and, per history frame, the 14 heavy-atom velocities (Angstrom per lag, in units of u), and its headers
read the noisy state and the latent time s, not sigma_a (as the paper's s_theta(x, s)): with history 2 the
network sees the velocities the acceleration is made of.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from .batch import PairBatch
from .nn import EquiJumpNetwork
from .sampler import replica_noise
from .transports.base import coordinate_counts, regression_loss
from .transports.diffmd import SOLVERS, DiffMDConfig, boosted_sigma, marginal_std
from .transports.noise import centred, standard_noise, superpose
from .walkjump import N_ATOM_SLOTS, atom_mask, cloud_to_atoms
from ..errors import ConfigError
from ..protein.vocabulary import N_SLOTS

#: Previous frames a window and the jump's state carry (the noise rule's acceleration needs two).
HISTORY_FRAMES = 2


def stack_cloud(P: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """(P (..., N, 3), V (..., N, 13, 3)) -> (..., N, 14, 3): slot 0 the anchor, then the vectors."""
    return torch.cat([P.unsqueeze(-2), V], dim=-2)


def aligned_history(P0: torch.Tensor, H: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """The history H (B, 2, N, 14, 3) superposed frame by frame onto X^t's anchors P0 (B, N, 3)."""
    frames: List[torch.Tensor] = []
    for k in range(H.shape[1]):
        P, V = superpose(H[:, k, :, 0], H[:, k, :, 1:], P0, residue_mask)
        frames.append(stack_cloud(P, V))
    return torch.stack(frames, dim=1)


def acceleration(P0: torch.Tensor, V0: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Heavy-atom accelerations (B, N, 14, 3), Angstrom per lag^2: X^t - 2 X^(t - lag) + X^(t - 2 lag) (the
    paper's a^(t - 1), the latest one known before the jump), from X^t and its aligned history H."""
    return (cloud_to_atoms(P0, V0) - 2.0 * cloud_to_atoms(H[:, 0, :, 0], H[:, 0, :, 1:])
            + cloud_to_atoms(H[:, 1, :, 0], H[:, 1, :, 1:]))


def window(batch: PairBatch) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                      torch.Tensor, torch.Tensor]:
    """(P0, V0, P1, V1, H, mask, residue_mask) of a batch of windows, masked, with X^(t + lag) and the history
    superposed onto X^t."""
    if batch.P_history is None or batch.V_history is None or batch.P_history.shape[1] < HISTORY_FRAMES:
        raise ValueError(f"DiffMD trains on windows of {HISTORY_FRAMES} previous frames: build the pairs with "
                         f"TransitionPairs(..., history={HISTORY_FRAMES})")
    residue_mask = batch.residue_mask
    mask = batch.mask & residue_mask.unsqueeze(-1)
    w_P = residue_mask.unsqueeze(-1).to(batch.P0.dtype)
    w_V = mask.unsqueeze(-1).to(batch.V0.dtype)
    P0, V0 = batch.P0 * w_P, batch.V0 * w_V
    P1, V1 = superpose(batch.P1 * w_P, batch.V1 * w_V, P0, residue_mask)
    H = stack_cloud(batch.P_history * w_P.unsqueeze(1), batch.V_history * w_V.unsqueeze(1))
    return P0, V0, P1, V1, aligned_history(P0, H, residue_mask), mask, residue_mask


@dataclass
class DiffMDSamplerConfig:
    """Settings of the DiffMD jump (recorded in the jump module; ``transports.diffmd``).

    steps: latent steps from s = 1 to s = eps. eps: where the reverse process stops (paper's grid 0.1 .. 0.99).
    solver: "heun" (probability-flow ODE, two network calls per step), "euler" (the ODE, one call per step) or
    "pc" (the paper's predictor-corrector, stochastic: 1 + corrector_steps calls per step).
    corrector_steps, snr: Langevin corrector steps after each predictor step and their signal-to-noise ratio
    (Song et al.'s VE default 0.16); "pc" only. projection_iterations: covalent projection sweeps per jump.
    """

    steps: int = 10
    eps: float = 0.1
    solver: str = "heun"
    corrector_steps: int = 1
    snr: float = 0.16
    projection_iterations: int = 500

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError(f"DiffMDSamplerConfig.solver={self.solver!r}; choose one of {SOLVERS}")
        if self.steps < 1 or self.corrector_steps < 0 or self.projection_iterations < 0:
            raise ConfigError(f"DiffMDSamplerConfig needs steps >= 1, corrector_steps >= 0 and projection_iterations "
                              f">= 0, got {self.steps}, {self.corrector_steps}, {self.projection_iterations}")
        if not 0 < self.eps < 1 or not self.snr > 0:
            raise ConfigError(f"DiffMDSamplerConfig needs 0 < eps < 1 and snr > 0, got eps={self.eps}, snr={self.snr}")


class DiffMDModel(torch.nn.Module):
    """The score network Z_hat(x_s, s | X^t, velocities) and the noise rule of a measured ``DiffMDConfig``.

    Shapes: B proteins padded to N residues; P (B, N, 3), V (B, N, 13, 3) Angstrom; history H (B, 2, N, 14, 3)
    (module docstring) superposed onto X^t; S (B, N); mask (B, N, 13); residue_mask (B, N).
    """

    def __init__(self, model_config, config: DiffMDConfig):
        super().__init__()
        if config.unit_A is None or config.accel_threshold_A is None:
            raise ValueError("DiffMDConfig.unit_A and accel_threshold_A are not set: measure them on the training "
                             "data (training.loop.measure_data_scale) before building the model")
        self.model_config = model_config
        self.diffmd_config = config
        self.history = int(config.history)
        self.unit = float(config.unit_A)
        self.threshold = float(config.accel_threshold_A)
        self.sigma_s = float(config.sigma_s)
        self.eta = float(config.eta)
        # velocities enter in units of u once the network has divided by its input length
        self.velocity_scale = float(model_config.input_length_A) / self.unit
        c = model_config
        self.network = EquiJumpNetwork(c.H, c.conditioner_layers, c.header_layers, c.k_neighbors, c.n_radial,
                                       c.r_max, c.n_residue_types, c.n_tau_frequencies, ("noise",),
                                       c.input_length_A, n_vectors=N_SLOTS,
                                       n_condition_vectors=N_SLOTS + N_ATOM_SLOTS * self.history)

    @torch.jit.export
    def noise_sigma(self, P0: torch.Tensor, V0: torch.Tensor, H: torch.Tensor, mask: torch.Tensor,
                    residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """sigma_a of every cloud coordinate: (B, N, 1) for the anchors, (B, N, 13, 1) for the vectors (1 on
        padding), from the heavy atoms' acceleration X^t - 2 X^(t - lag) + X^(t - 2 lag)."""
        sigma = boosted_sigma(acceleration(P0, V0, H), self.sigma_s, self.eta, self.threshold)
        sigma = torch.where(atom_mask(mask, residue_mask), sigma, torch.ones_like(sigma)).unsqueeze(-1)
        return sigma[:, :, 0], sigma[:, :, 1:]

    @torch.jit.export
    def condition(self, P0: torch.Tensor, V0: torch.Tensor, H: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor) -> torch.Tensor:
        """Conditioner embedding (B, N, 4H) of X^t and the velocities of ``history`` previous frames."""
        vectors: List[torch.Tensor] = [V0]
        masks: List[torch.Tensor] = [mask]
        newer = cloud_to_atoms(P0, V0)
        weight = atom_mask(mask, residue_mask)
        for k in range(self.history):
            older = cloud_to_atoms(H[:, k, :, 0], H[:, k, :, 1:])
            vectors.append((newer - older) * self.velocity_scale)
            masks.append(weight)
            newer = older
        return self.network.condition(P0, torch.cat(vectors, dim=2), S, torch.cat(masks, dim=2), residue_mask)

    @torch.jit.export
    def predict_noise(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P: torch.Tensor, V: torch.Tensor,
                      s: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Z_hat at the noisy state (P, V) and latent times s (B,): anchors (B, N, 3) centred, vectors (B, N, 13, 3)
        zero on padding."""
        out = self.network.run_headers(h, P0, V0, P, V, s, mask, residue_mask)
        return centred(out["noise_P"], residue_mask), out["noise_V"]

    def loss(self, batch: PairBatch, generator: Optional[torch.Generator] = None,
             rows: Optional[slice] = None) -> Dict[str, torch.Tensor]:
        """Denoising score matching on a batch of windows (``transports.diffmd``): {'loss', 'noise_P',
        'noise_V', 'floor'} as ``transports.base.regression_loss``. ``rows``: the share of these windows of the
        batch in its loss (``EquiJumpModel.loss``); the draws are made for the whole batch."""
        P0, V0, P1, V1, H, mask, residue_mask = window(batch)
        sigma_P, sigma_V = self.noise_sigma(P0, V0, H, mask, residue_mask)
        s_min = self.diffmd_config.s_min
        s = s_min + (1.0 - s_min) * torch.rand([batch.batch_size], generator=generator, dtype=P0.dtype,
                                               device=P0.device)
        Z_P, Z_V = standard_noise(residue_mask, mask, P0.dtype, generator)
        S, counts = batch.S, None
        if rows is not None:
            counts = coordinate_counts(mask, residue_mask)
            P0, V0, P1, V1, H, mask, residue_mask, sigma_P, sigma_V, s, Z_P, Z_V, S = (
                t[rows] for t in (P0, V0, P1, V1, H, mask, residue_mask, sigma_P, sigma_V, s, Z_P, Z_V, S))
        std_P = marginal_std(s.view(-1, 1, 1), sigma_P.log(), self.unit)
        std_V = marginal_std(s.view(-1, 1, 1, 1), sigma_V.log(), self.unit)
        P_s = P1 + centred(std_P * Z_P, residue_mask)
        V_s = V1 + std_V * Z_V
        h = self.condition(P0, V0, H, S, mask, residue_mask)
        noise_P, noise_V = self.predict_noise(h, P0, V0, P_s, V_s, s, mask, residue_mask)
        return regression_loss({"noise_P": noise_P, "noise_V": noise_V}, {"noise_P": Z_P, "noise_V": Z_V}, mask,
                               residue_mask, counts)


def measure_diffmd_scales(batch: PairBatch) -> Tuple[float, float]:
    """(u, abar) of ``DiffMDConfig`` from training windows: the RMS per cloud coordinate (Angstrom) of
    X^(t + lag) - X^t, and the median per-atom |X^t - 2 X^(t - lag) + X^(t - 2 lag)| (Angstrom per lag^2), all
    superposed onto X^t."""
    P0, V0, P1, V1, H, mask, residue_mask = window(batch)
    squares = ((P1 - P0) ** 2).sum() + ((V1 - V0) ** 2).sum()
    unit = float(squares / (3 * (residue_mask.sum() + mask.sum()))) ** 0.5
    norms = acceleration(P0, V0, H).norm(dim=-1)[atom_mask(mask, residue_mask)]
    return unit, float(norms.median())


class DiffMDSampler(torch.nn.Module):
    """A stateful transition for ``runtime.export.export_jump_module``: DiffMD jumps of R replicas of one protein.

    The state (R, 2, N, 14, 3) is the two previous frames as stacked clouds, newest first (module docstring).
    init(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,), mask (N, 13), seeds) -> state: no history is known, so both
        previous frames are X^t itself: zero velocity and acceleration (the largest noise boost).
    forward(P, V, S, mask, state, seeds) -> (P', V', state'): one jump from X^t = (P, V); the new state is
        (X^t, the newest frame of the old state). Replica r's noise ("pc" only) comes from seeds[r] alone.
    """

    stateful = True

    def __init__(self, model: DiffMDModel, config: DiffMDSamplerConfig):
        super().__init__()
        self.model = model
        self.steps = int(config.steps)
        self.eps = float(config.eps)
        self.solver = config.solver
        self.corrector_steps = int(config.corrector_steps)
        self.snr = float(config.snr)
        #: latent times s_0 = 1 > s_1 > ... > s_K = eps, uniform in s
        self.grid: List[float] = [1.0 - k * (1.0 - self.eps) / self.steps for k in range(self.steps + 1)]
        self.noise_draws = self.steps * (1 + self.corrector_steps) if self.solver == "pc" else 0

    def settings(self) -> Dict[str, float]:
        """The jump's and the SDE's settings for the jump module's metadata."""
        c = self.model.diffmd_config
        return {"latent_steps": float(self.steps), "eps": self.eps, "sde": 1.0 if self.solver == "pc" else 0.0,
                "heun": 1.0 if self.solver == "heun" else 0.0, "corrector_steps": float(self.corrector_steps),
                "snr": self.snr, "history": float(c.history), "sigma_s": c.sigma_s, "eta": c.eta,
                "accel_threshold_A": self.model.threshold, "unit_A": self.model.unit}

    def _batch(self, P: torch.Tensor, S: torch.Tensor, mask: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        R, N = P.shape[0], P.shape[1]
        return (S.unsqueeze(0).expand(R, N), mask.unsqueeze(0).expand(R, N, mask.shape[-1]),
                torch.ones([R, N], dtype=torch.bool, device=P.device))

    @torch.jit.export
    def init(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, seeds: List[int]
             ) -> torch.Tensor:
        if not torch.jit.is_scripting():
            warnings.warn("DiffMD: no previous frames are known, so this jump starts from zero velocity (the first "
                          "jump of a trajectory, and the first after positions are set)", stacklevel=2)
        cloud = stack_cloud(P, V * mask.unsqueeze(0).unsqueeze(-1).to(V.dtype))
        return torch.stack([cloud, cloud], dim=1)

    @torch.jit.export
    def isomer_anchors(self, P: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The C-alphas (R, N, 3) A at which the projection judges peptides cis or trans: the jump's start."""
        return P

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, state: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        S, mask, residue_mask = self._batch(P, S, mask)
        noise_P, noise_V = replica_noise(residue_mask, mask, seeds, self.noise_draws, P.dtype)
        P1, V1 = self.jump(P, V, state, S, mask, residue_mask, noise_P, noise_V)
        return P1, V1, torch.stack([stack_cloud(P, V * mask.unsqueeze(-1).to(V.dtype)), state[:, 0]], dim=1)

    @torch.jit.export
    def jump(self, P: torch.Tensor, V: torch.Tensor, H: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
             residue_mask: torch.Tensor, noise_P: torch.Tensor, noise_V: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """X^(t + lag) = (P', V') from X^t = (P, V) and its history H (R, 2, N, 14, 3), integrating from s = 1 at
        X^t to s = eps (``transports.diffmd``). noise_* (D, R, ...) as ``replica_noise`` draws them, D =
        ``noise_draws`` (for "pc": per step the predictor's draw, then one per corrector step)."""
        w_V = mask.unsqueeze(-1).to(P.dtype)
        P0, V0 = P * residue_mask.unsqueeze(-1).to(P.dtype), V * w_V
        H = aligned_history(P0, H, residue_mask)
        sigma_P, sigma_V = self.model.noise_sigma(P0, V0, H, mask, residue_mask)
        log_P, log_V = sigma_P.log(), sigma_V.log()
        h = self.model.condition(P0, V0, H, S, mask, residue_mask)
        R = P0.shape[0]
        P, V = P0, V0
        draw = 0
        for k in range(self.steps):
            s_k = torch.full([R], self.grid[k], dtype=P0.dtype, device=P0.device)
            s_n = torch.full([R], self.grid[k + 1], dtype=P0.dtype, device=P0.device)
            std_P, std_V = self.std(s_k, log_P, log_V)
            next_P, next_V = self.std(s_n, log_P, log_V)
            e_P, e_V = self.model.predict_noise(h, P0, V0, P, V, s_k, mask, residue_mask)
            if self.solver == "pc":
                # reverse-diffusion predictor: the drift g^2 ds score and noise of variance g^2 ds
                q_P, q_V = std_P * std_P - next_P * next_P, std_V * std_V - next_V * next_V
                P = P + centred(-q_P / std_P * e_P + q_P.sqrt() * noise_P[draw], residue_mask)
                V = V + (-q_V / std_V * e_V + q_V.sqrt() * noise_V[draw]) * w_V
                draw += 1
                for _ in range(self.corrector_steps):
                    e_P, e_V = self.model.predict_noise(h, P0, V0, P, V, s_n, mask, residue_mask)
                    P, V = self.langevin(P, V, -e_P / next_P, -e_V / next_V, noise_P[draw], noise_V[draw],
                                         w_V, residue_mask)
                    draw += 1
            else:
                step_P, step_V = next_P - std_P, next_V - std_V
                if self.solver == "heun":
                    e2_P, e2_V = self.model.predict_noise(h, P0, V0, P + centred(step_P * e_P, residue_mask),
                                                          V + step_V * e_V, s_n, mask, residue_mask)
                    e_P, e_V = 0.5 * (e_P + e2_P), 0.5 * (e_V + e2_V)
                P = P + centred(step_P * e_P, residue_mask)
                V = V + step_V * e_V * w_V
        return P, V * w_V

    def std(self, s: torch.Tensor, log_P: torch.Tensor, log_V: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """std(s) (A) of the anchors (R, N, 1) and vectors (R, N, 13, 1) at latent times s (R,)."""
        unit = self.model.unit
        return marginal_std(s.view(-1, 1, 1), log_P, unit), marginal_std(s.view(-1, 1, 1, 1), log_V, unit)

    def langevin(self, P: torch.Tensor, V: torch.Tensor, score_P: torch.Tensor, score_V: torch.Tensor,
                 z_P: torch.Tensor, z_V: torch.Tensor, w_V: torch.Tensor, residue_mask: torch.Tensor
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One Langevin corrector step x += e score + sqrt(2 e) z, e = 2 (snr |z| / |score|)^2 per replica."""
        score_norm = (score_P.pow(2).sum((1, 2)) + (score_V * w_V).pow(2).sum((1, 2, 3))).sqrt()
        noise_norm = (z_P.pow(2).sum((1, 2)) + z_V.pow(2).sum((1, 2, 3))).sqrt()
        e = 2.0 * (self.snr * noise_norm / score_norm.clamp(min=1e-12)) ** 2
        e_P, e_V = e.view(-1, 1, 1), e.view(-1, 1, 1, 1)
        return (P + centred(e_P * score_P + (2.0 * e_P).sqrt() * z_P, residue_mask),
                V + (e_V * score_V + (2.0 * e_V).sqrt() * z_V) * w_V)
