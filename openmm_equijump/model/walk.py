"""The walk-jump chain (JAMUN): underdamped Langevin (BAOAB) in the noisy space of a ``WalkJumpModel``, each
walk step followed by the jump back to a clean structure (the denoised x_hat of the same network call).

Score psi(y) = (x_hat(y) - y) / sigma^2, each atom's vector clipped to length ``score_clip_per_A``. Per walk
step of size delta with velocities v of mass M and damping f per step:
    B: v += delta/2 psi / M;  A: y += delta/2 v;  O: v = e^(-f) v + sqrt(1 - e^(-2 f)) M^(-1/2) R;
    A: y += delta/2 v;  psi, x_hat = score(y);  B: v += delta/2 psi / M
so one network call per step gives both the next score and the step's sample x_hat. The chain never restarts
from a sample: (y, v, psi) is its state, carried from call to call (a stateful jump module,
``runtime.export.STATEFUL_FORMAT_VERSION``), and what the integrator reports (x_hat, projected onto the
covalent geometry and with hydrogens rebuilt) is never fed back into y. The state also keeps the structure the
chain started from, x0: the projection keeps its peptide isomers (``isomer_anchors``) in every sample, since
consecutive samples are not steps in time (judged at the previous sample, as a jump in time is, one sample whose
projection left a trans peptide short freed it for every sample after). Noise (R, the start y = x + sigma eta,
v ~ N(0, 1/M)) is centred on the heavy atoms, and psi has no net translation, so the heavy-atom centroid of y
never moves.

Units. y and x_hat in Angstrom; delta is unit-free as JAMUN's (its default, delta = sigma, is the same walk in
nm and in A with M = 1). Friction: JAMUN's code damps by e^(-1) per step (f = 1, the default here); its paper
uses gamma = 0.1 at delta = 0.04 (f = 0.004): ``WalkConfig.friction`` sets f.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ..config import check_ranges
from .transports.noise import seeded_generator
from .walkjump import WalkJumpModel, atom_centroid, atom_mask, atoms_to_cloud, centred_noise, cloud_to_atoms, \
    replica_batch


@dataclass
class WalkConfig:
    """Settings of the walk (recorded in the jump module).

    delta: BAOAB step size (None: sigma, JAMUN's choice). friction: damping f per walk step (JAMUN code 1.0,
    paper 0.004). mass: M. walk_steps: walk steps per integrator step (the integrator reports the last
    sample). score_clip_per_A: per-atom clip of the score (1/A; JAMUN: 100 per nm = 10 per A).
    projection_iterations: covalent projection sweeps on each reported sample (``protein.covalent``; 2000 because
    a denoised peptide can be badly twisted, and 500 left some samples outside the stability criteria).
    """

    delta: Optional[float] = None
    friction: float = 1.0
    mass: float = 1.0
    walk_steps: int = 1
    score_clip_per_A: float = 10.0
    projection_iterations: int = 2000

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("walk_steps",), positive=("delta", "friction", "mass", "score_clip_per_A"),
                     non_negative=("projection_iterations",))


def clip_per_atom(score: torch.Tensor, limit: float) -> torch.Tensor:
    """score (..., 3) with every atom's vector longer than ``limit`` scaled down to that length."""
    norm = torch.linalg.vector_norm(score, dim=-1, keepdim=True)
    return score * torch.clamp(limit / norm.clamp(min=1e-12), max=1.0)


def baoab_step(y: torch.Tensor, v: torch.Tensor, psi: torch.Tensor, noise: torch.Tensor, delta: float,
               friction: float, mass: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """B, A, O, A of one BAOAB step from (y, v) with score psi at y and standard normal ``noise`` for O; returns
    (y', v) before the final B, which needs the score at y' (the caller's network call)."""
    v = v + 0.5 * delta * psi / mass
    y = y + 0.5 * delta * v
    v = math.exp(-friction) * v + math.sqrt((1.0 - math.exp(-2.0 * friction)) / mass) * noise
    y = y + 0.5 * delta * v
    return y, v


class WalkJumpSampler(torch.nn.Module):
    """A stateful transition for ``runtime.export.export_jump_module``: R walk-jump chains of one protein.

    init(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,), mask (N, 13), seeds: List[int]) -> state (R, 4, N, 14, 3)
        the chains started at the given structures x0: (y = x0 + sigma eta, v ~ N(0, 1/M), psi(y), x0)
    forward(P, V, S, mask, state, seeds) -> (P', V', state'): ``walk_steps`` walk steps; (P', V') the last
        sample. Replica r draws its noise from a CPU generator seeded seeds[r] alone.
    isomer_anchors(P, state) -> the C-alphas of x0 (R, N, 3), where the projection judges peptide isomers.
    """

    stateful = True

    def __init__(self, model: WalkJumpModel, config: WalkConfig):
        super().__init__()
        self.model = model
        self.sigma_A = model.sigma_A
        self.delta = float(config.delta if config.delta is not None else model.sigma_A)
        self.friction = float(config.friction)
        self.mass = float(config.mass)
        self.walk_steps = int(config.walk_steps)
        self.score_clip = float(config.score_clip_per_A)

    def settings(self) -> Dict[str, float]:
        """The walk's settings for the jump module's metadata."""
        return {"sigma_A": self.sigma_A, "delta": self.delta, "friction": self.friction, "mass": self.mass,
                "walk_steps": float(self.walk_steps), "score_clip_per_A": self.score_clip,
                "align_noisy": float(self.model.walk_jump_config.align_noisy)}

    def _noise(self, weight: torch.Tensor, seeds: List[int], draws: int) -> torch.Tensor:
        """(draws, R, N, 14, 3) centred standard noise, replica r's from a CPU generator seeded seeds[r] (the same
        numbers on every device; TorchScript cannot make a CUDA generator)."""
        R = weight.shape[0]
        out = torch.zeros([draws, R, weight.shape[1], weight.shape[2], 3], dtype=weight.dtype, device=weight.device)
        weight_cpu = weight.cpu()
        for r in range(R):
            generator = seeded_generator(seeds[r], weight_cpu)
            draw = centred_noise(weight_cpu[r:r + 1].expand(draws, -1, -1, -1), generator)
            out[:, r] = draw.to(weight.device)
        return out

    @torch.jit.export
    def score(self, y: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(psi (R, N, 14, 3) per A, clipped per atom, no net translation; x_hat (R, N, 14, 3) A) at noisy heavy
        atoms y."""
        x_hat = self.model.denoise(y, S, mask, residue_mask)
        psi = clip_per_atom((x_hat - y) / (self.sigma_A * self.sigma_A), self.score_clip)
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(y.dtype)
        # clipping can give the score a net translation; removing it keeps the centroid of y in place
        return (psi - atom_centroid(psi, weight)) * weight, x_hat

    @torch.jit.export
    def init(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, seeds: List[int]
             ) -> torch.Tensor:
        S, mask, residue_mask, weight = replica_batch(P, S, mask)
        noise = self._noise(weight, seeds, 2)
        x0 = cloud_to_atoms(P, V) * weight
        y = x0 + self.sigma_A * noise[0]
        v = noise[1] / math.sqrt(self.mass)
        psi, _ = self.score(y, S, mask, residue_mask)
        return torch.stack([y, v, psi, x0], dim=1)

    @torch.jit.export
    def isomer_anchors(self, P: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The C-alphas (R, N, 3) A at which the projection judges peptides cis or trans: the chain's start x0."""
        return state[:, 3, :, 0]

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, state: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        S, mask, residue_mask, weight = replica_batch(P, S, mask)
        x_hat, walked = self.walk(state[:, :3], self._noise(weight, seeds, self.walk_steps), S, mask, residue_mask)
        P1, V1 = atoms_to_cloud(x_hat, mask)
        return P1, V1, torch.cat([walked, state[:, 3:]], dim=1)

    @torch.jit.export
    def walk(self, state: torch.Tensor, noise: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
             residue_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One BAOAB walk step per draw of ``noise`` (steps, R, N, 14, 3) from ``state`` (R, 3, N, 14, 3) = (y, v,
        psi); returns (the last sample x_hat (R, N, 14, 3) A, the new state). S (R, N), mask (R, N, 13),
        residue_mask (R, N)."""
        y, v, psi = state[:, 0], state[:, 1], state[:, 2]
        x_hat = y
        for k in range(noise.shape[0]):
            y, v = baoab_step(y, v, psi, noise[k], self.delta, self.friction, self.mass)
            psi, x_hat = self.score(y, S, mask, residue_mask)
            v = v + 0.5 * self.delta * psi / self.mass
        return x_hat, torch.stack([y, v, psi], dim=1)
