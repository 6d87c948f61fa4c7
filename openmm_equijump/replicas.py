"""Many replicas of one protein in one call of the jump module, from Python (no OpenMM Context).

An OpenMM ``Simulation`` is one replica. ``run_replicas`` advances R copies at once through the batched
``forward(positions[R, n_atoms, 3], seed)`` of the jump module: one model call per jump for all of them. The
seed of jump k is derived from (seed, k) exactly as the C++ integrator derives it from (integrator seed,
step count), so with R = 1 this reproduces ``Simulation(..., EquiJumpIntegrator(module, seed=seed))``.
With R > 1 the replicas share one seed per jump and draw independent noise from it.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

_MASK64 = (1 << 64) - 1


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of the splitmix64 generator: (next state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def jump_seed(seed: int, step: int) -> int:
    """The module seed of the jump taken at ``step`` by an integrator seeded ``seed`` (as the C++ kernel)."""
    _, state = _splitmix64((((seed & 0xFFFFFFFF) << 32) ^ step) & _MASK64)
    _, output = _splitmix64(state)
    return output >> 1


def iterate_replicas(jump_module: torch.jit.ScriptModule, positions, jumps: int, seed: int, *,
                     first_step: int = 0, progress: bool = True, keep_going: bool = False) -> Iterator[np.ndarray]:
    """Yield the positions (R, n_atoms, 3) nm after each of ``jumps`` jumps of all replicas at once.

    positions: (R, n_atoms, 3) or (n_atoms, 3) nm; seed: as the integrator's (>= 1); first_step: the step
    count of the first jump (to continue a run). A jump that returns non-finite positions raises
    FloatingPointError, unless ``keep_going``: then that replica stays NaN from there on and leaves the batch,
    and the others go on (their noise then differs from a run in which it had not blown up).
    """
    x = torch.as_tensor(np.asarray(positions, dtype=np.float32))
    if x.dim() == 2:
        x = x.unsqueeze(0)
    frame = x.numpy().copy()
    alive = np.arange(x.shape[0])
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for k in tqdm(range(first_step, first_step + jumps), desc=f"{x.shape[0]} replicas", unit="jump",
                      disable=not progress):
            if len(alive):
                x = jump_module(torch.as_tensor(frame[alive]), jump_seed(seed, k))
                finite = torch.isfinite(x).flatten(1).all(dim=1).numpy()
                if not finite.all() and not keep_going:
                    raise FloatingPointError(f"jump {k}: the jump module returned non-finite positions for "
                                             f"replica(s) {alive[~finite].tolist()}")
                frame[alive] = x.numpy()
                alive = alive[finite]
            yield frame.copy()


def run_replicas(jump_module: torch.jit.ScriptModule, positions, jumps: int, seed: int, *,
                 progress: bool = True, first_step: int = 0, keep_going: bool = False) -> np.ndarray:
    """Positions (R, jumps, n_atoms, 3) nm of R replicas after each jump (see ``iterate_replicas``)."""
    frames = list(iterate_replicas(jump_module, positions, jumps, seed, first_step=first_step, progress=progress,
                                   keep_going=keep_going))
    return np.stack(frames, axis=1)
