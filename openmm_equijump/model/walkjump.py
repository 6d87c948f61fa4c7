"""The walk-jump denoiser (JAMUN): the package's network trained to denoise heavy-atom structures at one noise
level sigma.

Noise lives on atoms, not on the tensor cloud: y = x + sigma * eta with eta iid N(0, 1) per heavy-atom
coordinate. A structure is handled here as its heavy atoms X (B, N, 14, 3) in Angstrom, slot 0 the C-alpha and
slots 1..13 the tensor cloud's vector slots (``cloud_to_atoms``), with ``atom_mask`` (B, N, 14) marking real
atoms; the map to the cloud (P, V) and back is linear, so noise, score and walk are those of JAMUN.

Denoiser (EDM preconditioning adapted to point clouds, as JAMUN):
    x_hat(y) = mean(y) + c_skip (y - mean(y)) + c_out F(y - mean(y))
with C the mean squared distance between heavy atoms closer than ``radius_A`` in the training data (measured
once, stored in the config), D = 3:
    c_skip = C / (C + 2 D sigma^2),  c_out = sqrt(C 2 D sigma^2 / (C + 2 D sigma^2)),  c_in = 1 / sqrt(C + 2 D sigma^2)
and the noise level enters the network's time embedding as c_noise = ln(sigma / 1 A) / 4 (JAMUN's code; its
paper writes log10). ``mean`` is the heavy-atom centroid: the denoiser neither moves nor is moved by a
translation. F is the network's ("x1") header pair evaluated with the noisy structure as both its conditioner
input and its latent state. c_in is not applied: for a model of one sigma it is a constant factor, and the
network already scales its input vectors by ``ModelConfig.input_length_A`` while its radial basis needs
Angstrom (``preconditioning`` still returns it).
Loss: |x_hat - x|^2 per coordinate weighted by 1 / c_out^2 (EDM's weighting); in training the noisy structure
is first superposed onto the clean one (Kabsch on all heavy atoms, rotation and translation), so that the
network need not predict the rotational part of the noise (``WalkJumpConfig.align_noisy``).

The walk that samples with the denoiser is ``model.walk``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple, Union

import torch

from .batch import PairBatch
from .nn import EquiJumpNetwork
from .transports.noise import kabsch
from ..config import check_ranges
from ..protein.vocabulary import N_SLOTS

#: Heavy-atom slots per residue: the C-alpha, then the tensor cloud's vector slots.
N_ATOM_SLOTS = N_SLOTS + 1


@dataclass
class WalkJumpConfig:
    """The denoiser's noise model (saved with the model).

    sigma_A: the noise level sigma (Angstrom per coordinate; JAMUN: 0.4 A for capped peptides).
    align_noisy: superpose the noisy structure onto the clean one in training (JAMUN's code and paper do).
    mean_sq_distance_A2: C of the preconditioning (A^2), measured on the training data when a run starts
        (None until then).
    radius_A: heavy atoms closer than this count as the pairs C averages over (JAMUN's radius graph, 10 A).
    """

    sigma_A: float = 0.4
    align_noisy: bool = True
    mean_sq_distance_A2: Optional[float] = None
    radius_A: float = 10.0

    def __post_init__(self) -> None:
        check_ranges(self, positive=("sigma_A", "mean_sq_distance_A2", "radius_A"))


def preconditioning(sigma_A, mean_sq_distance_A2: float, dimension: int = 3):
    """(c_in, c_skip, c_out) of the denoiser for noise sigma (A; a float, or a tensor of levels) and data scale C
    (A^2); see the module docstring."""
    noise = 2.0 * dimension * sigma_A ** 2
    total = mean_sq_distance_A2 + noise
    return total ** -0.5, mean_sq_distance_A2 / total, (mean_sq_distance_A2 * noise / total) ** 0.5


def measured_data_scale(config) -> float:
    """The data scale C (A^2) a denoiser's config carries (``mean_sq_distance_A2``), measured on the training data
    before the model is built; refused by name when it is not set."""
    if config.mean_sq_distance_A2 is None:
        raise ValueError(f"{type(config).__name__}.mean_sq_distance_A2 is not set: measure it on the training data "
                         "(walkjump.mean_squared_distance) before building the model")
    return float(config.mean_sq_distance_A2)


def cloud_to_atoms(P: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Tensor cloud P (B, N, 3), V (B, N, 13, 3) -> heavy atoms X (B, N, 14, 3) (padded slots at their anchor)."""
    return torch.cat([P.unsqueeze(2), P.unsqueeze(2) + V], dim=2)


def atoms_to_cloud(X: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Heavy atoms X (B, N, 14, 3) -> P (B, N, 3), V (B, N, 13, 3) zero where ~mask (B, N, 13)."""
    P = X[:, :, 0]
    return P, (X[:, :, 1:] - P.unsqueeze(2)) * mask.unsqueeze(-1).to(X.dtype)


def atom_mask(mask: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """(B, N, 14) bool: the C-alpha of every real residue and its real vector slots."""
    return torch.cat([residue_mask.unsqueeze(-1), mask & residue_mask.unsqueeze(-1)], dim=-1)


def atom_centroid(X: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Heavy-atom centroid (B, 1, 1, 3) of X (B, N, 14, 3) over the atoms of ``weight`` (B, N, 14, 1)."""
    return (X * weight).sum((1, 2), keepdim=True) / weight.sum((1, 2), keepdim=True).clamp(min=1.0)


def superpose_atoms(Y: torch.Tensor, X: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Y (B, N, 14, 3) moved rigidly (proper rotation and translation, Kabsch on all real heavy atoms) onto X."""
    B = Y.shape[0]
    Yc = ((Y - atom_centroid(Y, weight)) * weight).reshape(B, -1, 3)
    centre = atom_centroid(X, weight)
    Xc = ((X - centre) * weight).reshape(B, -1, 3)
    R = kabsch(Yc, Xc)
    return ((Yc @ R.transpose(1, 2)).reshape(Y.shape) + centre) * weight


def replica_batch(P: torch.Tensor, S: torch.Tensor, mask: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A jump module's R replicas of one protein as a batch: (S (R, N), mask (R, N, 13), residue_mask (R, N) all
    True, weight (R, N, 14, 1)) from P (R, N, 3), S (N,) and mask (N, 13)."""
    R, N = P.shape[0], P.shape[1]
    residue_mask = torch.ones([R, N], dtype=torch.bool, device=P.device)
    mask = mask.unsqueeze(0).expand(R, N, mask.shape[-1])
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(P.dtype)
    return S.unsqueeze(0).expand(R, N), mask, residue_mask, weight


def centred_noise(weight: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard normal noise (B, N, 14, 3) on the real atoms of ``weight`` (B, N, 14, 1), minus its heavy-atom
    mean (so that it cannot move the centroid), zero elsewhere."""
    Z = torch.randn(weight.shape[:-1] + (3,), generator=generator, dtype=weight.dtype, device=weight.device)
    Z = Z * weight
    return (Z - atom_centroid(Z, weight)) * weight


def centred_input(Y: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a denoiser's network reads of noisy heavy atoms Y (B, N, 14, 3): (weight (B, N, 14, 1), centre
    (B, 1, 1, 3) the heavy-atom centroid, Yc = Y - centre (B, N, 14, 3) zero on padding, and Yc as the cloud
    P (B, N, 3), V (B, N, 13, 3))."""
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(Y.dtype)
    centre = atom_centroid(Y, weight)
    Yc = (Y - centre) * weight
    P, V = atoms_to_cloud(Yc, mask)
    return weight, centre, Yc, P, V


def preconditioned_output(centre: torch.Tensor, Yc: torch.Tensor, F_P: torch.Tensor, F_V: torch.Tensor,
                          c_skip: torch.Tensor, c_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x_hat = centre + c_skip Yc + c_out F (B, N, 14, 3) from ``centred_input``'s centre and Yc and the
    network's ("x1") output cloud F_P (B, N, 3), F_V (B, N, 13, 3), its centroid removed; c_skip, c_out
    (B, 1, 1, 1), one per structure (module docstring)."""
    F = cloud_to_atoms(F_P, F_V) * weight
    F = (F - atom_centroid(F, weight)) * weight
    return (centre + c_skip * Yc + c_out * F) * weight


def mean_squared_distance(X: torch.Tensor, weight: torch.Tensor, radius_A: float) -> float:
    """C (A^2): the mean of |x_i - x_j|^2 over pairs i != j of real heavy atoms closer than ``radius_A``, over
    the frames X (B, N, 14, 3) (JAMUN's ``average_squared_distance`` of its radius graph)."""
    total, count = 0.0, 0
    for frame, w in zip(X, weight):
        atoms = frame.reshape(-1, 3)[w.reshape(-1) > 0].double()
        d2 = torch.cdist(atoms, atoms).pow(2)
        close = (d2 < radius_A ** 2) & ~torch.eye(len(atoms), dtype=torch.bool)
        total += float(d2[close].sum())
        count += int(close.sum())
    if count == 0:
        raise ValueError(f"no two heavy atoms are closer than {radius_A} A: cannot measure the data scale C")
    return total / count


def denoising_loss(denoise: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, weight: torch.Tensor,
                   noise: torch.Tensor, sigma_A: Union[float, torch.Tensor], c_out: Union[float, torch.Tensor],
                   align_noisy: bool, batch_size: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """JAMUN's objective for clean structures X (B, N, 14, 3) (real atoms in ``weight`` (B, N, 14, 1)) and unit
    noise (B, N, 14, 3) (``centred_noise``).

    ``denoise`` maps noisy structures (B, N, 14, 3) to denoised ones. ``sigma_A`` and ``c_out``: one value, or
    one per structure (B,) (a diffusion model's levels, ``model.structure``). Returns, as means over the batch
    of one value per structure: 'loss' = |x_hat - x|^2 per real coordinate / c_out^2, 'mse_A2' (the
    unweighted mean squared error per coordinate) and 'scaled_rmsd' = RMS error / sigma (JAMUN's diagnostic:
    1 for the identity, 0 for a perfect denoiser). ``batch_size``: that of the whole batch when X holds only
    some of its rows (``training.distributed``), so that the shares of rows that partition a batch add up to
    its values.
    """
    sigma = torch.as_tensor(sigma_A, dtype=X.dtype, device=X.device).reshape(-1)
    Y = X + sigma.view(-1, 1, 1, 1) * noise
    if align_noisy:
        Y = superpose_atoms(Y, X, weight)
    error = ((denoise(Y) - X) * weight).pow(2).sum((1, 2, 3)) / (3.0 * weight.sum((1, 2, 3)))
    count = float(batch_size if batch_size is not None else X.shape[0])
    mse = error.sum() / count
    if isinstance(c_out, torch.Tensor):
        loss = (error / c_out.pow(2)).sum() / count
    else:
        loss = mse / c_out ** 2
    return {"loss": loss, "mse_A2": mse, "scaled_rmsd": (error.sqrt() / sigma).sum() / count}


class WalkJumpModel(torch.nn.Module):
    """The denoiser x_hat(y) of heavy-atom structures at the noise level ``config.sigma_A``.

    ``denoise`` is scriptable (the walk calls it); ``loss`` is the training objective on a ``PairBatch`` (its
    start frames; a walk-jump run trains on single frames). Shapes in the module docstring, Angstrom.
    """

    def __init__(self, model_config, walk_jump_config: WalkJumpConfig):
        super().__init__()
        self.model_config = model_config
        self.walk_jump_config = walk_jump_config
        c = model_config
        self.sigma_A = float(walk_jump_config.sigma_A)
        _, self.c_skip, self.c_out = preconditioning(self.sigma_A, measured_data_scale(walk_jump_config))
        self.c_noise = math.log(self.sigma_A) / 4.0
        self.network = EquiJumpNetwork(c.H, c.conditioner_layers, c.header_layers, c.k_neighbors, c.n_radial,
                                       c.r_max, c.n_residue_types, c.n_tau_frequencies, ("x1",),
                                       c.input_length_A, n_vectors=N_SLOTS)

    @torch.jit.export
    def denoise(self, Y: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, residue_mask: torch.Tensor
                ) -> torch.Tensor:
        """x_hat (B, N, 14, 3) of noisy heavy atoms Y (B, N, 14, 3) A; S (B, N), mask (B, N, 13), residue_mask
        (B, N). Same heavy-atom centroid as Y; padded atoms zero."""
        weight, centre, Yc, P, V = centred_input(Y, mask, residue_mask)
        h = self.network.condition(P, V, S, mask, residue_mask)
        level = torch.full([Y.shape[0]], self.c_noise, dtype=Y.dtype, device=Y.device)
        out = self.network.run_headers(h, P, V, P, V, level, mask, residue_mask)
        scale = torch.ones([Y.shape[0], 1, 1, 1], dtype=Y.dtype, device=Y.device)
        return preconditioned_output(centre, Yc, out["x1_P"], out["x1_V"], self.c_skip * scale,
                                     self.c_out * scale, weight)

    def loss(self, batch: PairBatch, generator: Optional[torch.Generator] = None,
             rows: Optional[slice] = None) -> Dict[str, torch.Tensor]:
        """``denoising_loss`` on the batch's start frames (X^t); X^(t + lag) is not used. ``rows``: the share of
        these structures of the batch in its loss (``EquiJumpModel.loss``); the noise is drawn for the whole batch."""
        residue_mask = batch.residue_mask
        mask = batch.mask & residue_mask.unsqueeze(-1)
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(batch.P0.dtype)
        noise = centred_noise(weight, generator)
        S, batch_size = batch.S, batch.batch_size
        if rows is not None:
            batch, S, noise, weight = batch.rows(rows), S[rows], noise[rows], weight[rows]
            residue_mask, mask = residue_mask[rows], mask[rows]
        X = cloud_to_atoms(batch.P0, batch.V0) * weight
        X = (X - atom_centroid(X, weight)) * weight
        return denoising_loss(lambda Y: self.denoise(Y, S, mask, residue_mask), X, weight, noise, self.sigma_A,
                              self.c_out, self.walk_jump_config.align_noisy, batch_size)
