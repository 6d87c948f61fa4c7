"""Many replicas of one protein in one call of the jump module, from Python (no OpenMM Context).

An OpenMM ``Simulation`` is one replica. ``iterate_replicas`` and ``run_replicas`` advance R replicas at once
through the jump module's ``jump_replicas(positions (R, n_atoms, 3) nm, seeds: List[int])``: one model call
per jump for all of them. Every replica has its own integrator seed, and its jump at step count k uses the
module seed ``jump_seed(seeds[r], k)``, derived as the C++ integrator derives it from (integrator seed, step
count); the module draws each replica's noise from a generator of its own. So replica r of a batch is
``Simulation(..., EquiJumpIntegrator(module, seed=seeds[r]))`` started from the same positions, to float32
round-off per jump (a batch may sum in another order; the covalent projection's bounds can grow that to
~1e-3 A), whatever the other replicas of the batch do. A stateful module (``export.is_stateful``) gets its state
from ``init_replicas`` before the first jump, seeded as the plugin seeds ``init_state``, and carries it along.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Union

import numpy as np
import torch
from tqdm import tqdm

from .export import is_stateful

_MASK64 = (1 << 64) - 1


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of the splitmix64 generator: (next state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


#: Mixed into a jump's random state for a stateful module's init_state (as the C++ kernel's INIT_STATE_SALT).
_INIT_STATE_SALT = 0x5DEECE66D


def _jump_state(seed: int, step: int) -> int:
    _, state = _splitmix64((((seed & 0xFFFFFFFF) << 32) ^ step) & _MASK64)
    return state


def jump_seed(seed: int, step: int) -> int:
    """The module seed of the jump taken at ``step`` by an integrator seeded ``seed`` (as the C++ kernel)."""
    _, output = _splitmix64(_jump_state(seed, step))
    return output >> 1


def init_state_seed(seed: int, step: int) -> int:
    """The seed a stateful module's state is initialized with before the jump at ``step`` (as the C++ kernel)."""
    _, output = _splitmix64(_jump_state(seed, step) ^ _INIT_STATE_SALT)
    return output >> 1


def replica_seeds(seeds: Union[int, Sequence[int]], replicas: int) -> list[int]:
    """The integrator seed of each of ``replicas`` replicas: ``seeds`` itself (one per replica), or for an
    int s the list s, s + 1, ..., s + replicas - 1 (replica r uses seed + r, as ``simulate`` does).

    Seeds must be >= 1: ``EquiJumpIntegrator`` reads 0 as "pick a random seed", which no batch can reproduce.
    """
    if isinstance(seeds, (int, np.integer)):
        seeds = [int(seeds) + r for r in range(replicas)]
    seeds = [int(s) for s in seeds]
    if len(seeds) != replicas:
        raise ValueError(f"got {len(seeds)} seeds for {replicas} replicas; give one integrator seed per replica")
    if min(seeds) < 1:
        raise ValueError(f"integrator seeds must be >= 1 (EquiJumpIntegrator reads 0 as 'random'), got {seeds}")
    return seeds


#: Coordinates beyond this (nm) are no protein's: the input is at fault, not the model (as the plugin says).
MAX_POSITION_NM = 1e4


def check_positions(positions: np.ndarray) -> None:
    """Refuse start positions (R, n_atoms, 3) nm that no jump should see: non-finite or beyond 1e4 nm."""
    bad = ~np.isfinite(positions) | (np.abs(positions) > MAX_POSITION_NM)
    if bad.any():
        r, atom, _ = np.argwhere(bad)[0]
        raise ValueError(f"start positions of replica {r} are not usable: atom {atom} is at "
                         f"{positions[r, atom].tolist()} nm (non-finite or beyond 1e4 nm); the input is at fault, "
                         "not the model: give positions in nm")


def iterate_replicas(jump_module: torch.jit.ScriptModule, positions, jumps: int,
                     seeds: Union[int, Sequence[int]], *, first_step: int = 0, progress: bool = True,
                     keep_going: bool = False) -> Iterator[np.ndarray]:
    """Yield the positions (R, n_atoms, 3) float32 nm of all replicas after each of ``jumps`` jumps.

    positions: (R, n_atoms, 3) or (n_atoms, 3) nm, the start of each replica; seeds: one integrator seed per
    replica, or an int s for s + r (``replica_seeds``); first_step: the step count of the first jump (to
    continue a run). The batch runs on the device of the module (move it with ``jump_module.to("cuda")``);
    positions come back to the host once per jump. A jump that returns non-finite positions raises
    FloatingPointError, unless ``keep_going``: then that replica's positions are NaN from that jump on and it
    leaves the batch; the other replicas go on exactly as they would have, their noise coming from their own
    seeds.
    """
    start = np.asarray(positions, dtype=np.float32)
    if start.ndim == 2:
        start = start[None]
    check_positions(start)
    seeds = replica_seeds(seeds, start.shape[0])
    device = jump_module.atomic_numbers.device
    frame = start.copy()
    alive = np.arange(start.shape[0])
    x = torch.as_tensor(frame, device=device)
    stateful = is_stateful(jump_module)
    with torch.no_grad(), torch.jit.optimized_execution(False):
        if stateful:  # a new run: the state is initialized as the plugin does for positions it did not write
            state = jump_module.init_replicas(x, [init_state_seed(seeds[r], first_step) for r in alive])
        for k in tqdm(range(first_step, first_step + jumps), desc=f"{len(seeds)} replicas", unit="jump",
                      disable=not progress):
            if len(alive):
                step_seeds = [jump_seed(seeds[r], k) for r in alive]
                if stateful:
                    x, state = jump_module.jump_replicas(x, state, step_seeds)
                else:
                    x = jump_module.jump_replicas(x, step_seeds)
                finite = torch.isfinite(x).flatten(1).all(dim=1).cpu().numpy()
                if not finite.all() and not keep_going:
                    raise FloatingPointError(f"jump at step {k}: the jump module returned non-finite positions "
                                             f"for replica(s) {alive[~finite].tolist()} from finite input "
                                             "positions (checked before the first jump): the model is unstable "
                                             "for this structure, or the module is damaged (export it again)")
                frame[alive] = x.cpu().numpy()
                keep = torch.as_tensor(finite, device=device)
                alive, x = alive[finite], x[keep]
                if stateful:
                    state = state[keep]
            yield frame.copy()


def run_replicas(jump_module: torch.jit.ScriptModule, positions, jumps: int, seeds: Union[int, Sequence[int]], *,
                 progress: bool = True, first_step: int = 0, keep_going: bool = False) -> np.ndarray:
    """Positions (R, jumps, n_atoms, 3) nm of R replicas after each jump (see ``iterate_replicas``)."""
    frames = list(iterate_replicas(jump_module, positions, jumps, seeds, first_step=first_step, progress=progress,
                                   keep_going=keep_going))
    return np.stack(frames, axis=1)
