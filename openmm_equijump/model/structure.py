"""Structure diffusion (Align Your Structures, stage 1): the package's network as a per-frame diffusion model of
heavy-atom structures, trained on single frames of any number of proteins, without time.

It is the walk-jump denoiser (``model.walkjump``) at every noise level of a DDPM schedule instead of one:
the same heavy-atom noise y = x + sigma eta (eta centred per structure), the same superposition of the noisy
structure onto the clean one in training (Kabsch on all heavy atoms; the paper's "recompute the target after
alignment" is implicit, since the target is x itself), the same EDM preconditioning and loss weight 1 / c_out^2.

Noise levels. DDPM's variance-preserving chain x_tau = sqrt(abar_tau) x + sqrt(1 - abar_tau) eps (linear betas
1e-4 .. 0.02, T = 1000: the paper's) is the variance-exploding chain y = x_tau / sqrt(abar_tau) = x + sigma_tau
eps with
    sigma_tau = u sqrt((1 - abar_tau) / abar_tau)    (tau = 1 .. T; sigma_0 = 0, the clean structure)
where u (``StructureDiffusionConfig.unit_A``) is the length DDPM's unit variance means: 1 A as the paper's
conformers (sigma from 0.01 A to 157 A, far above a protein's size). A level is the integer tau.

Denoiser. x_hat(y, tau) = centre + c_skip Yc + c_out F(c_in sqrt(C) Yc, tau / T) with Yc = y - centre (the
heavy-atom centroid), C, c_skip, c_out and c_in of ``walkjump.preconditioning`` at sigma_tau. The network reads
the noisy structure scaled to the data's size (c_in sqrt(C) = 1 at sigma = 0, 0.03 at sigma = 157 A for
chignolin): its kNN graph and radial basis need Angstrom-like lengths, and unscaled inputs of 100 A would
overflow its squared features (the walk-jump denoiser, at one small sigma, skips c_in). The time embedding
reads tau / T in [0, 1], the domain of ``nn.tau_embedding``'s Fourier features (ln sigma would wrap them).
At tau = 0, c_skip = 1 and c_out = 0: a clean frame is returned unchanged (given frames of a window,
``model.blocks``).

Sampling: DDPM's ancestral sampler (``model.ancestral``) from the prior, on a respaced subset of the levels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from ..config import check_ranges
from ..errors import ConfigError
from .ancestral import ancestral_sample, respaced_levels
from .batch import PairBatch
from .nn import EquiJumpNetwork
from .walkjump import (atom_centroid, atom_mask, centred_input, centred_noise, cloud_to_atoms, denoising_loss,
                       measured_data_scale, preconditioned_output, preconditioning)
from ..protein.vocabulary import N_SLOTS


@dataclass
class StructureDiffusionConfig:
    """The diffusion over structures (saved with the model; module docstring).

    levels: T, DDPM's diffusion steps. beta_start, beta_end: its linear schedule (paper: 1e-4, 0.02, T = 1000).
    unit_A: u, the length of DDPM's unit variance in Angstrom. align_noisy: superpose the noisy structure onto
    the clean one in training (paper: Kabsch alignment). mean_sq_distance_A2: C of the preconditioning (A^2),
    measured on the training data when a run starts (None until then), over heavy-atom pairs closer than
    radius_A (as ``WalkJumpConfig``).
    """

    levels: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    unit_A: float = 1.0
    align_noisy: bool = True
    mean_sq_distance_A2: Optional[float] = None
    radius_A: float = 10.0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("levels",),
                     positive=("beta_start", "beta_end", "unit_A", "mean_sq_distance_A2", "radius_A"))
        if not self.beta_start <= self.beta_end < 1:
            raise ConfigError(f"StructureDiffusionConfig needs beta_start <= beta_end < 1, got {self.beta_start}, "
                              f"{self.beta_end}")


def noise_levels(config: StructureDiffusionConfig) -> torch.Tensor:
    """sigma_tau (T + 1,) float64 in Angstrom, tau = 0 .. T (module docstring)."""
    betas = torch.linspace(config.beta_start, config.beta_end, config.levels, dtype=torch.float64)
    abar = torch.cumprod(1.0 - betas, dim=0)
    return torch.cat([torch.zeros(1, dtype=torch.float64), config.unit_A * ((1.0 - abar) / abar).sqrt()])


class StructureModel(torch.nn.Module):
    """The denoiser x_hat(y, tau) of heavy-atom structures at every level of a ``StructureDiffusionConfig``.

    Structures as in ``model.walkjump``: heavy atoms (B, N, 14, 3) Angstrom, S (B, N), mask (B, N, 13),
    residue_mask (B, N); levels tau (B,) int64 in 0 .. T.
    """

    def __init__(self, model_config, config: StructureDiffusionConfig):
        super().__init__()
        self.model_config = model_config
        self.structure_config = config
        self.levels = int(config.levels)
        self.data_scale = measured_data_scale(config)
        sigma = noise_levels(config)
        c_in, c_skip, c_out = preconditioning(sigma, self.data_scale)
        # float64 tables, cast on use: c_out spans 0 .. sqrt(C) and c_in sqrt(C) 1 .. 0.03
        self.register_buffer("sigma", sigma, persistent=False)
        self.register_buffer("c_skip", c_skip, persistent=False)
        self.register_buffer("c_out", c_out, persistent=False)
        self.register_buffer("input_scale", c_in * self.data_scale ** 0.5, persistent=False)
        c = model_config
        self.network = EquiJumpNetwork(c.H, c.conditioner_layers, c.header_layers, c.k_neighbors, c.n_radial,
                                       c.r_max, c.n_residue_types, c.n_tau_frequencies, ("x1",),
                                       c.input_length_A, n_vectors=N_SLOTS)

    def dtype(self) -> torch.dtype:
        """The dtype of the network's weights (what samples are drawn in)."""
        return self.network.residue_embedding.weight.dtype

    def precondition(self, Y: torch.Tensor, level: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                torch.Tensor, torch.Tensor]:
        """What the network reads of noisy structures Y at ``level`` and what its output is mixed with:
        (weight, centre, Yc, P, V, time, c_skip, c_out); P (B, N, 3), V (B, N, 13, 3) the scaled centred cloud,
        time (B,) = tau / T, c_skip and c_out (B, 1, 1, 1)."""
        weight, centre, Yc, P, V = centred_input(Y, mask, residue_mask)
        scale = self.input_scale[level].to(Y.dtype)
        P, V = P * scale.view(-1, 1, 1), V * scale.view(-1, 1, 1, 1)
        time = level.to(Y.dtype) / self.levels
        return (weight, centre, Yc, P, V, time, self.c_skip[level].to(Y.dtype).view(-1, 1, 1, 1),
                self.c_out[level].to(Y.dtype).view(-1, 1, 1, 1))

    def denoise(self, Y: torch.Tensor, level: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                residue_mask: torch.Tensor) -> torch.Tensor:
        """x_hat (B, N, 14, 3) of noisy heavy atoms Y (B, N, 14, 3) at levels (B,): same heavy-atom centroid as
        Y, padded atoms zero."""
        weight, centre, Yc, P, V, time, c_skip, c_out = self.precondition(Y, level, mask, residue_mask)
        h = self.network.condition(P, V, S, mask, residue_mask)
        out = self.network.run_headers(h, P, V, P, V, time, mask, residue_mask)
        return preconditioned_output(centre, Yc, out["x1_P"], out["x1_V"], c_skip, c_out, weight)

    def loss(self, batch: PairBatch, generator: Optional[torch.Generator] = None,
             rows: Optional[slice] = None) -> Dict[str, torch.Tensor]:
        """``walkjump.denoising_loss`` on the batch's start frames (X^t), each at a level drawn uniformly from
        1 .. T. ``rows``: this process's share of the batch (``EquiJumpModel.loss``); draws for the whole batch."""
        residue_mask = batch.residue_mask
        mask = batch.mask & residue_mask.unsqueeze(-1)
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(batch.P0.dtype)
        noise = centred_noise(weight, generator)
        level = torch.randint(1, self.levels + 1, [batch.batch_size], generator=generator, device=weight.device)
        S, batch_size = batch.S, batch.batch_size
        if rows is not None:
            batch, S, noise, weight, level = batch.rows(rows), S[rows], noise[rows], weight[rows], level[rows]
            residue_mask, mask = residue_mask[rows], mask[rows]
        X = cloud_to_atoms(batch.P0, batch.V0) * weight
        X = (X - atom_centroid(X, weight)) * weight
        sigma, c_out = self.sigma[level].to(X.dtype), self.c_out[level].to(X.dtype)
        return denoising_loss(lambda Y: self.denoise(Y, level, S, mask, residue_mask), X, weight, noise, sigma,
                              c_out, self.structure_config.align_noisy, batch_size)

    @torch.no_grad()
    def sample(self, S: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor, steps: int = 100,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Structures (B, N, 14, 3) Angstrom, centred on their heavy-atom centroid, of the proteins S (B, N) with
        masks mask (B, N, 13), residue_mask (B, N): ancestral sampling on ``steps`` of the T levels."""
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(self.dtype())
        B = weight.shape[0]

        def denoise(Y: torch.Tensor, level: int) -> torch.Tensor:
            return self.denoise(Y, torch.full([B], level, dtype=torch.int64, device=Y.device), S, mask,
                                residue_mask)

        return ancestral_sample(denoise, lambda: centred_noise(weight, generator), self.sigma.tolist(),
                                respaced_levels(self.levels, steps), self.structure_config.unit_A)

