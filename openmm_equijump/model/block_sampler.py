"""Forward simulation by blocks (Align Your Structures) as a stateful transition: one frame per integrator step.

A forward-task window model (``model.blocks``) generates T - 1 frames after a given first frame. The sampler
keeps them in a buffer, its state, and hands out one per step, so the step is the window's frame interval and a
``DCDReporter(..., 1)`` records every frame. When the buffer is empty, the next step samples a new block
conditioned on the current positions (the last frame handed out, after the covalent projection and the
hydrogens) with that step's seed: blocks chain, and a run restored from a checkpoint taken inside a block
continues exactly (the buffer is in the checkpoint).

State per replica: (1 + (T - 1) N 14 3,) in the positions' dtype: [how many frames of the buffer were handed
out (T - 1: empty), the buffer: the block's T - 1 generated frames as heavy atoms (N, 14, 3) in Angstrom, in the
System's frame, flattened]. The model generates frames centred and superposed onto the first (the given one,
which the window holds centred), so the block is put back at the current positions' heavy-atom centroid in
their orientation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch

from ..config import check_ranges
from ..errors import ConfigError
from .ancestral import respaced_levels
from .blocks import WindowModel
from .walkjump import atom_centroid, atoms_to_cloud, cloud_to_atoms, replica_batch


@dataclass
class BlockSamplerConfig:
    """Settings of forward simulation by blocks (recorded in the jump module).

    steps: levels the ancestral sampler visits per block (of the model's ``structure.levels``; the paper
    samples all 1000). projection_iterations: covalent projection sweeps on each frame handed out
    (``protein.covalent``; as a jump's, ``SamplerConfig``).
    """

    steps: int = 100
    projection_iterations: int = 500

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("steps",), non_negative=("projection_iterations",))


class BlockSampler(torch.nn.Module):
    """A stateful transition for ``runtime.export.export_jump_module``: forward simulation by blocks of R
    replicas of one protein (module docstring).

    init(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,), mask (N, 13), seeds) -> state (R, 1 + (T - 1) N 14 3), empty
    forward(P, V, S, mask, state, seeds) -> (P', V', state'): the next frame of the buffer, after sampling a new
        block where it was empty (replica r's from a CPU generator seeded seeds[r] alone)
    isomer_anchors(P, state) -> P: peptide isomers are judged at the previous frame, as for a jump in time.
    """

    stateful = True

    def __init__(self, model: WindowModel, config: BlockSamplerConfig):
        super().__init__()
        if model.blocks_config.task != "forward":
            raise ConfigError(f"a {model.blocks_config.task!r} window model cannot simulate forward: only a model "
                              "trained with --task forward hands out frames after the current positions")
        self.denoiser = model.denoiser
        self.frames = int(model.frames)
        self.levels: List[int] = respaced_levels(model.structure.levels, config.steps)

    def settings(self) -> Dict[str, float]:
        """The sampler's settings for the jump module's metadata (latent_steps: ancestral steps per block)."""
        return {"window_frames": float(self.frames), "frames_per_block": float(self.frames - 1),
                "latent_steps": float(len(self.levels) - 1)}

    @torch.jit.export
    def init(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, seeds: List[int]
             ) -> torch.Tensor:
        R, N = P.shape[0], P.shape[1]
        state = torch.zeros([R, 1 + (self.frames - 1) * N * 14 * 3], dtype=P.dtype, device=P.device)
        state[:, 0] = float(self.frames - 1)
        return state

    @torch.jit.export
    def isomer_anchors(self, P: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return P

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor, state: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        R, N = P.shape[0], P.shape[1]
        S, mask, residue_mask, weight = replica_batch(P, S, mask)
        handed = state[:, 0].round().to(torch.int64)
        buffer = state[:, 1:].reshape(R, self.frames - 1, N, 14, 3)
        empty = handed >= self.frames - 1
        if bool(empty.any()):
            rows = torch.nonzero(empty).flatten()
            row_list: List[int] = rows.tolist()
            block = self.block(P[rows], V[rows], S[rows], mask[rows], residue_mask[rows], weight[rows],
                               [seeds[r] for r in row_list])
            buffer = buffer.index_copy(0, rows, block.to(buffer.dtype))
            handed = torch.where(empty, torch.zeros_like(handed), handed)
        frame = torch.stack([buffer[r, int(handed[r])] for r in range(R)])
        P1, V1 = atoms_to_cloud(frame, mask)
        return P1, V1, torch.cat([(handed + 1).to(state.dtype).unsqueeze(1), buffer.flatten(1)], dim=1)

    @torch.jit.export
    def block(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
              residue_mask: torch.Tensor, weight: torch.Tensor, seeds: List[int]) -> torch.Tensor:
        """The T - 1 frames (R, T - 1, N, 14, 3) A after the structures (P, V) (R, N, 3), (R, N, 13, 3), one block
        per replica, in their frame. S (R, N), mask (R, N, 13), residue_mask (R, N), weight (R, N, 14, 1)."""
        R, T = P.shape[0], self.frames
        X0 = cloud_to_atoms(P, V) * weight
        centre = atom_centroid(X0, weight)
        given = torch.zeros([R, T, X0.shape[1], X0.shape[2], 3], dtype=P.dtype, device=P.device)
        given[:, 0] = (X0 - centre) * weight  # the window's first frame as aligned_window makes it: centred
        X = self.denoiser.sample(given, seeds, self.levels, S, mask, residue_mask)
        return (X[:, 1:] + centre.unsqueeze(1)) * weight.unsqueeze(1)
