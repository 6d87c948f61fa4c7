"""Blocks of frames (Align Your Structures, stage 2): a pretrained ``StructureModel`` made a generator of windows
of T frames by the temporal interpolator (``nn.interpolator``), its own weights frozen.

A window is T frames of one protein, frame_ps apart: heavy atoms X (B, T, N, 14, 3) Angstrom, every frame
centred on its own heavy-atom centroid and superposed onto the window's first frame (Kabsch on all heavy atoms),
so the window holds the protein's internal motion and not its diffusion or tumbling. Frames marked ``given``
(the task: none, the first ("forward"), the first and last ("interpolation")) are conditions: never noised,
held at their values by the sampler, out of the loss, and shown to the network at level 0 (where the
preconditioning returns them unchanged) and by the given-frame embedding of the temporal branch.

Training (the paper's eq. 2 with the structure model's parameterization, ``model.structure``): one level tau per
window for its generated frames, noise centred per frame; the noisy generated frames are superposed onto the
clean ones with one rotation for the whole window (Kabsch on all their heavy atoms at once: the paper's
trajectory-level alignment; given frames are not moved, they fix the window's orientation); loss
|x_hat - x|^2 / c_out^2 per real coordinate of the generated frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

import torch

from ..config import check_ranges
from ..errors import ConfigError
from .ancestral import ancestral_sample, respaced_levels
from .batch import PairBatch
from .nn.interpolator import TemporalNetwork
from .structure import StructureDiffusionConfig, StructureModel
from .walkjump import atom_centroid, atom_mask, centred_noise, cloud_to_atoms, denoising_loss, preconditioned_output, \
    superpose_atoms

#: Which frames of a window are given: none, the first, the first and the last.
TASKS = ("unconditional", "forward", "interpolation")


@dataclass
class BlocksConfig:
    """The window model (saved with the model; module docstring).

    task: "unconditional", "forward" or "interpolation" (which frames are given). frames: T, frames per window
    (the training windows are T frames ``TrainConfig.lag_ps`` apart). pretrained: the structure run the spatial
    weights came from (recorded; its model and structure settings are this run's). n_radial, r_max_A: the
    temporal layers' Gaussian basis of how far a residue moved between two frames. n_offset_frequencies: their
    frame-offset features (periods 2 .. 2^n frames).
    """

    task: str = "forward"
    frames: int = 8
    pretrained: Optional[str] = None
    n_radial: int = 8
    r_max_A: float = 10.0
    n_offset_frequencies: int = 5

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"BlocksConfig.task={self.task!r}; choose one of {', '.join(TASKS)}")
        check_ranges(self, at_least_one=("n_radial", "n_offset_frequencies"), positive=("r_max_A",))
        least = {"unconditional": 2, "forward": 2, "interpolation": 3}[self.task]
        if self.frames < least:
            raise ConfigError(f"BlocksConfig.frames={self.frames}: the {self.task} task needs at least {least} frames "
                              "per window (and at least one generated)")

    def given(self) -> torch.Tensor:
        """(T,) bool: the frames the task gives."""
        given = torch.zeros(self.frames, dtype=torch.bool)
        if self.task in ("forward", "interpolation"):
            given[0] = True
        if self.task == "interpolation":
            given[-1] = True
        return given


def window_atoms(batch: PairBatch, frames: int) -> torch.Tensor:
    """The windows of a batch of ``frames - 2`` history frames (``TransitionPairs(..., history=frames - 2)``) as
    heavy atoms X (B, T, N, 14, 3), oldest frame first, each frame centred and superposed onto the first (module
    docstring); padding zero."""
    P = [batch.P0, batch.P1]
    V = [batch.V0, batch.V1]
    if frames > 2:
        if batch.P_history is None or batch.V_history is None or batch.P_history.shape[1] != frames - 2:
            raise ValueError(f"windows of {frames} frames need batches of {frames - 2} history frames: build them "
                             f"with TransitionPairs(..., history={frames - 2})")
        P = [batch.P_history[:, k] for k in range(frames - 3, -1, -1)] + P
        V = [batch.V_history[:, k] for k in range(frames - 3, -1, -1)] + V
    residue_mask = batch.residue_mask
    weight = atom_mask(batch.mask & residue_mask.unsqueeze(-1), residue_mask).unsqueeze(-1).to(batch.P0.dtype)
    return aligned_window(torch.stack([cloud_to_atoms(p, v) for p, v in zip(P, V)], dim=1), weight)


def aligned_window(X: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Frames X (B, T, N, 14, 3) each centred on its heavy-atom centroid and superposed onto the first (the
    windows the model is trained on); weight (B, N, 14, 1) 1 on real atoms; padding zero."""
    frames = [(X[:, t] - atom_centroid(X[:, t] * weight, weight)) * weight for t in range(X.shape[1])]
    return torch.stack([frames[0]] + [superpose_atoms(x, frames[0], weight) for x in frames[1:]], dim=1)


class WindowModel(torch.nn.Module):
    """The denoiser x_hat(y, tau) of windows of T frames: a frozen ``StructureModel`` and the trainable
    ``TemporalNetwork`` around it.

    Shapes: windows (B, T, N, 14, 3) Angstrom; S (B, N); mask (B, N, 13); residue_mask (B, N); levels (B,) int64
    (the generated frames' level; given frames are at level 0).
    """

    def __init__(self, model_config, structure_config: StructureDiffusionConfig, config: BlocksConfig):
        super().__init__()
        self.model_config = model_config
        self.blocks_config = config
        self.frames = int(config.frames)
        self.structure = StructureModel(model_config, structure_config)
        for parameter in self.structure.parameters():
            parameter.requires_grad_(False)
        self.temporal = TemporalNetwork(self.structure.network, config.n_radial, config.r_max_A,
                                        config.n_offset_frequencies, model_config.input_length_A)
        self.register_buffer("given", config.given(), persistent=False)

    def denoise(self, Y: torch.Tensor, level: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                residue_mask: torch.Tensor) -> torch.Tensor:
        """x_hat (B, T, N, 14, 3) of noisy windows Y (B, T, N, 14, 3) whose generated frames are at ``level``
        (B,): every frame keeps its heavy-atom centroid; given frames come back unchanged (c_out = 0)."""
        B, T, N = Y.shape[0], Y.shape[1], Y.shape[2]
        given = self.given.unsqueeze(0).expand(B, T).flatten()
        levels = torch.where(given, torch.zeros_like(given, dtype=level.dtype), level.repeat_interleave(T))
        S, mask = S.repeat_interleave(T, 0), mask.repeat_interleave(T, 0)
        residue_mask = residue_mask.repeat_interleave(T, 0)
        structure = self.structure
        weight, centre, Yc, P, V, time, c_skip, c_out = structure.precondition(Y.flatten(0, 1), levels, mask,
                                                                               residue_mask)
        h = self.temporal.condition(structure.network, P, V, S, mask, residue_mask, T, given)
        out = self.temporal.run_headers(structure.network, h, P, V, P, V, time, mask, residue_mask, T, given)
        x_hat = preconditioned_output(centre, Yc, out["x1_P"], out["x1_V"], c_skip, c_out, weight)
        return x_hat.reshape(B, T, N, x_hat.shape[2], 3)

    def loss(self, batch: PairBatch, generator: Optional[torch.Generator] = None,
             rows: Optional[slice] = None) -> Dict[str, torch.Tensor]:
        """The window loss of the module docstring on a batch of windows (``window_atoms``), as
        ``walkjump.denoising_loss`` returns it per window. ``rows``: this process's share (``EquiJumpModel.loss``)."""
        T = self.frames
        residue_mask = batch.residue_mask
        mask = batch.mask & residue_mask.unsqueeze(-1)
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(batch.P0.dtype)
        B = batch.batch_size
        noise = centred_noise(weight.repeat_interleave(T, 0), generator).reshape((B, T) + weight.shape[1:3] + (3,))
        level = torch.randint(1, self.structure.levels + 1, [B], generator=generator, device=weight.device)
        S = batch.S
        if rows is not None:
            batch, S, noise, weight, level = batch.rows(rows), S[rows], noise[rows], weight[rows], level[rows]
            residue_mask, mask = residue_mask[rows], mask[rows]
        X = window_atoms(batch, T)
        generated = (~self.given).to(X.dtype).view(1, T, 1, 1, 1)
        frames_weight = weight.unsqueeze(1) * generated  # (b, T, N, 14, 1): the generated frames' real atoms
        given = self.given.view(1, T, 1, 1, 1)

        def denoise(Y: torch.Tensor) -> torch.Tensor:
            Y = torch.where(given, X, Y.reshape(X.shape))
            return self.denoise(Y, level, S, mask, residue_mask).flatten(1, 2)

        sigma, c_out = self.structure.sigma[level].to(X.dtype), self.structure.c_out[level].to(X.dtype)
        return denoising_loss(denoise, X.flatten(1, 2), frames_weight.flatten(1, 2), noise.flatten(1, 2), sigma,
                              c_out, self.structure.structure_config.align_noisy, B)

    @torch.no_grad()
    def sample(self, given_frames: Optional[torch.Tensor], S: torch.Tensor, mask: torch.Tensor,
               residue_mask: torch.Tensor, steps: int = 100,
               generator: Union[None, torch.Generator, Sequence[torch.Generator]] = None) -> torch.Tensor:
        """Windows (B, T, N, 14, 3) Angstrom by ancestral sampling on ``steps`` levels. ``given_frames``
        (B, T, N, 14, 3): the values of the task's given frames (others ignored; None for "unconditional"); they
        are centred and superposed onto the first frame as in training (``aligned_window``) and returned so;
        every frame is centred on its heavy-atom centroid. ``generator``: one for the whole batch, or B of them,
        window b drawing its noise from ``generator[b]`` alone (then a window does not depend on the others in
        its batch, to float round-off)."""
        T = self.frames
        B = S.shape[0]
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(self.structure.dtype())
        shape = (B, T) + weight.shape[1:3] + (3,)
        if isinstance(generator, (list, tuple)):
            if len(generator) != B:
                raise ValueError(f"got {len(generator)} generators for {B} windows; give one per window")
            per_window = [(weight[b:b + 1].repeat_interleave(T, 0), g) for b, g in enumerate(generator)]
        else:
            per_window = [(weight.repeat_interleave(T, 0), generator)]
        given = None
        if bool(self.given.any()):
            if given_frames is None or tuple(given_frames.shape) != shape:
                raise ValueError(f"the {self.blocks_config.task} task needs given_frames of shape {shape}, got "
                                 f"{None if given_frames is None else tuple(given_frames.shape)}")
            given = (aligned_window(given_frames.to(weight.dtype), weight), self.given.view(1, T, 1, 1, 1))

        def denoise(Y: torch.Tensor, level: int) -> torch.Tensor:
            return self.denoise(Y, torch.full([B], level, dtype=torch.int64, device=Y.device), S, mask, residue_mask)

        def noise() -> torch.Tensor:
            return torch.cat([centred_noise(w, g) for w, g in per_window]).reshape(shape)

        return ancestral_sample(denoise, noise,
                                self.structure.sigma.tolist(), respaced_levels(self.structure.levels, steps),
                                self.structure.structure_config.unit_A, given)
