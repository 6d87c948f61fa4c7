"""Blocks of frames (Align Your Structures, stage 2): a pretrained ``StructureModel`` made a generator of windows
of T frames by the temporal interpolator (``nn.interpolator``), its own weights frozen.

A window is T frames of one protein, frame_ps apart: heavy atoms X (B, T, N, 14, 3) Angstrom, every frame
centred on its own heavy-atom centroid and superposed onto the window's first frame (Kabsch on all heavy atoms),
so the window holds the protein's internal motion and not its diffusion or tumbling. Frames marked ``given``
(the task: none, the first ("forward"), the first and last ("interpolation")) are conditions: never noised,
held at their values by the sampler, out of the loss, read by the network as the other frames (at the window's
level, so that the temporal layers compare frames at one scale) but returned unchanged (level 0's c_skip = 1,
c_out = 0), and marked by the given-frame embedding of the temporal branch.

Training (the paper's eq. 2 with the structure model's parameterization, ``model.structure``): one level tau per
window for its generated frames, noise centred per frame; the noisy generated frames are superposed onto the
clean ones with one rotation for the whole window (Kabsch on all their heavy atoms at once: the paper's
trajectory-level alignment; given frames are not moved, they fix the window's orientation); loss
|x_hat - x|^2 / c_out^2 per real coordinate of the generated frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from ..config import check_ranges
from ..errors import ConfigError
from .ancestral import ancestral_step, prior_std_A, respaced_levels
from .batch import PairBatch
from .nn.interpolator import TemporalNetwork, WindowNetwork
from .transports.noise import seeded_generator
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
    weights came from (recorded; its model and structure settings are this run's), frozen. from_scratch: instead,
    the spatial network starts from random weights and is trained with the temporal layers (the paper's ablation
    without pretraining, "Ours-N"). n_radial, r_max_A: the
    temporal layers' Gaussian basis of how far a residue moved between two frames. n_offset_frequencies: their
    frame-offset features (periods 2 .. 2^n frames).
    """

    task: str = "forward"
    frames: int = 8
    pretrained: Optional[str] = None
    from_scratch: bool = False
    n_radial: int = 8
    r_max_A: float = 10.0
    n_offset_frequencies: int = 5

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"BlocksConfig.task={self.task!r}; choose one of {', '.join(TASKS)}")
        check_ranges(self, at_least_one=("n_radial", "n_offset_frequencies"), positive=("r_max_A",))
        least = {"unconditional": 2, "forward": 2, "interpolation": 3}[self.task]
        if self.pretrained and self.from_scratch:
            raise ConfigError(f"BlocksConfig: pretrained={self.pretrained!r} and from_scratch=True; choose one")
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


def window_draw(weight_cpu: torch.Tensor, frames: int, generators: List[torch.Generator],
                device: torch.device) -> torch.Tensor:
    """One standard draw (B, T, N, 14, 3) on ``device`` for windows of ``frames`` frames of the structures whose
    real atoms ``weight_cpu`` (B, N, 14, 1, on the CPU) marks, centred per frame (``centred_noise``), zero on
    padding; window b's from ``generators[b]`` (CPU generators: the same numbers on every device)."""
    draws = [centred_noise(weight_cpu[b:b + 1].expand(frames, -1, -1, -1), generator)
             for b, generator in enumerate(generators)]
    return torch.stack(draws).to(device)


class WindowDenoiser(torch.nn.Module):
    """The denoiser x_hat(y, tau) of windows of T frames and its ancestral sampler, scriptable: a
    ``StructureModel`` and a ``TemporalNetwork`` made for its network, run together (``nn.WindowNetwork``).

    forward(Y (B, T, N, 14, 3) A, level (B,) int64: the generated frames' level, S (B, N), mask (B, N, 13),
    residue_mask (B, N)) -> x_hat (B, T, N, 14, 3): every frame keeps its heavy-atom centroid; given frames
    (``given``, (T,) bool) are read as the others, at the window's level, and come back unchanged (c_out = 0).
    """

    def __init__(self, structure: StructureModel, temporal: TemporalNetwork, given: torch.Tensor):
        super().__init__()
        self.structure = structure
        self.network = WindowNetwork(structure.network, temporal)
        self.frames = int(given.numel())
        # a list, not a buffer: the window model holds this module outside its tree (WindowModel), so a buffer
        # would not follow it to another device
        self.given_frames: List[bool] = [bool(g) for g in given.tolist()]
        self.unit_A = float(structure.structure_config.unit_A)

    def given(self, device: torch.device) -> torch.Tensor:
        """(T,) bool: the frames the task gives."""
        return torch.tensor(self.given_frames, dtype=torch.bool, device=device)

    def forward(self, Y: torch.Tensor, level: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                residue_mask: torch.Tensor) -> torch.Tensor:
        B, T, N = Y.shape[0], Y.shape[1], Y.shape[2]
        given = self.given(Y.device).unsqueeze(0).expand(B, T).flatten()
        S, mask = S.repeat_interleave(T, 0), mask.repeat_interleave(T, 0)
        residue_mask = residue_mask.repeat_interleave(T, 0)
        # every frame is read at the window's level (input scale, time), so that the temporal layers compare
        # frames at one scale; a given frame's output is its input (c_skip 1, c_out 0: level 0's)
        weight, centre, Yc, P, V, time, c_skip, c_out = self.structure.precondition(
            Y.flatten(0, 1), level.repeat_interleave(T), mask, residue_mask)
        held = given.view(-1, 1, 1, 1)
        c_skip = torch.where(held, torch.ones_like(c_skip), c_skip)
        c_out = torch.where(held, torch.zeros_like(c_out), c_out)
        h = self.network.condition(P, V, S, mask, residue_mask, T, given)
        out = self.network.run_headers(h, P, V, P, V, time, mask, residue_mask, T, given)
        x_hat = preconditioned_output(centre, Yc, out["x1_P"], out["x1_V"], c_skip, c_out, weight)
        return x_hat.reshape(B, T, N, x_hat.shape[2], 3)

    @torch.jit.export
    def sample(self, given_frames: torch.Tensor, seeds: List[int], levels: List[int], S: torch.Tensor,
               mask: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
        """Windows (B, T, N, 14, 3) A by DDPM's ancestral sampler (``model.ancestral``) visiting ``levels``
        (decreasing to 0: ``respaced_levels``), window b drawing its noise from seed ``seeds[b]`` alone (a CPU
        generator each, ``seeded_generator``: the same numbers on every device; one draw for the prior, then one
        per step that does not end at level 0, each drawn when it is needed). ``given_frames`` (B, T, N, 14, 3): the given frames' values, aligned as in
        training (``aligned_window``), held throughout; the other frames' values are ignored."""
        B, T = S.shape[0], self.frames
        if len(seeds) != B:
            raise RuntimeError("WindowDenoiser.sample: got " + str(len(seeds)) + " seeds for " + str(B)
                               + " windows; give one per window")
        given = self.given(S.device).view(1, -1, 1, 1, 1)
        # once, not per step: every draw is made on the CPU
        weight_cpu = atom_mask(mask, residue_mask).unsqueeze(-1).to(given_frames.dtype).cpu()
        generators = [seeded_generator(seed, weight_cpu) for seed in seeds]
        sigma = self.structure.sigma
        y = prior_std_A(float(sigma[levels[0]]), self.unit_A) * window_draw(weight_cpu, T, generators, S.device)
        y = torch.where(given, given_frames, y)
        for k in range(len(levels) - 1):
            t, s = levels[k], levels[k + 1]
            x_hat = self.forward(y, torch.full([B], t, dtype=torch.int64, device=y.device), S, mask, residue_mask)
            z: Optional[torch.Tensor] = None
            if s > 0:
                z = window_draw(weight_cpu, T, generators, y.device)
            y = torch.where(given, given_frames, ancestral_step(y, x_hat, float(sigma[t]), float(sigma[s]), z))
        return y


class WindowModel(torch.nn.Module):
    """The window model of a blocks run: a ``StructureModel``, frozen unless ``config.from_scratch``, and the
    trainable ``TemporalNetwork`` around it; its denoiser and sampler are ``denoiser`` (a ``WindowDenoiser``).

    Shapes: windows (B, T, N, 14, 3) Angstrom; S (B, N); mask (B, N, 13); residue_mask (B, N); levels (B,) int64
    (the generated frames' level: the window's).
    """

    def __init__(self, model_config, structure_config: StructureDiffusionConfig, config: BlocksConfig):
        super().__init__()
        self.model_config = model_config
        self.blocks_config = config
        self.frames = int(config.frames)
        self.structure = StructureModel(model_config, structure_config)
        for parameter in self.structure.parameters():
            parameter.requires_grad_(config.from_scratch)
        self.temporal = TemporalNetwork(self.structure.network, config.n_radial, config.r_max_A,
                                        config.n_offset_frequencies, model_config.input_length_A)
        # shares the two modules above; kept in a tuple, outside the module tree, so their weights are saved once
        self._denoiser = (WindowDenoiser(self.structure, self.temporal, config.given()),)

    @property
    def denoiser(self) -> WindowDenoiser:
        """The scriptable denoiser and sampler of this model's windows (shares its weights)."""
        return self._denoiser[0]

    def train(self, mode: bool = True) -> "WindowModel":
        """As ``nn.Module.train``, and the denoiser outside the module tree follows."""
        super().train(mode)
        self.denoiser.train(mode)
        return self

    def denoise(self, Y: torch.Tensor, level: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                residue_mask: torch.Tensor) -> torch.Tensor:
        """x_hat (B, T, N, 14, 3) of noisy windows Y (``WindowDenoiser``)."""
        return self.denoiser(Y, level, S, mask, residue_mask)

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
        given = self.denoiser.given(X.device).view(1, T, 1, 1, 1)
        frames_weight = weight.unsqueeze(1) * (~given).to(X.dtype)  # (b, T, N, 14, 1): generated frames' real atoms

        def denoise(Y: torch.Tensor) -> torch.Tensor:
            Y = torch.where(given, X, Y.reshape(X.shape))
            return self.denoise(Y, level, S, mask, residue_mask).flatten(1, 2)

        sigma, c_out = self.structure.sigma[level].to(X.dtype), self.structure.c_out[level].to(X.dtype)
        return denoising_loss(denoise, X.flatten(1, 2), frames_weight.flatten(1, 2), noise.flatten(1, 2), sigma,
                              c_out, self.structure.structure_config.align_noisy, B)

    @torch.no_grad()
    def sample(self, given_frames: Optional[torch.Tensor], S: torch.Tensor, mask: torch.Tensor,
               residue_mask: torch.Tensor, steps: int = 100, seeds: Optional[Sequence[int]] = None
               ) -> torch.Tensor:
        """Windows (B, T, N, 14, 3) Angstrom by ancestral sampling on ``steps`` levels (``WindowDenoiser.sample``).
        ``given_frames`` (B, T, N, 14, 3): the values of the task's given frames (others ignored; None for
        "unconditional"); they are centred and superposed onto the first frame as in training
        (``aligned_window``) and returned so; every frame is centred on its heavy-atom centroid. ``seeds``: one
        per window (window b's noise comes from seeds[b] alone: it does not depend on the other windows of the
        batch, to float round-off); None: drawn from torch's global generator."""
        T = self.frames
        weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(self.structure.dtype())
        B = S.shape[0]
        shape = (B, T) + weight.shape[1:3] + (3,)
        values = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        if any(self.denoiser.given_frames):
            if given_frames is None or tuple(given_frames.shape) != shape:
                raise ValueError(f"the {self.blocks_config.task} task needs given_frames of shape {shape}, got "
                                 f"{None if given_frames is None else tuple(given_frames.shape)}")
            values = aligned_window(given_frames.to(weight.dtype), weight)
        if seeds is None:
            seeds = torch.randint(0, 2 ** 62, [B]).tolist()
        elif len(seeds) != B:
            raise ValueError(f"got {len(seeds)} seeds for {B} windows; give one per window")
        return self.denoiser.sample(values, [int(seed) for seed in seeds], respaced_levels(self.structure.levels, steps),
                                    S, mask, residue_mask)
