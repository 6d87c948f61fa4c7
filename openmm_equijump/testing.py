"""Helpers for testing: transitions with a checkable result (for the jump module and the plugin; not models of
dynamics), a stateful jump module, random rotations and random padded tensor clouds.

The transitions implement the transition interface of ``export``:
``forward(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,) int64, mask (N, 13) bool, seeds: List[int]) -> (P', V')``
and are scriptable.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

from .model.transports.noise import seeded_generator


class RigidRotation(nn.Module):
    """Rotates replica r's heavy atoms about its C-alpha centroid by ``rotation(seeds[r])``.

    The axis is a random unit vector and the angle uniform in [min_angle, max_angle] radians, both drawn
    from a CPU generator seeded with ``seed``: same seed, same rotation, on every device.
    """

    def __init__(self, min_angle: float = 0.2, max_angle: float = 3.0):
        super().__init__()
        if not 0.0 <= min_angle <= max_angle:
            raise ValueError(f"need 0 <= min_angle <= max_angle, got {min_angle}, {max_angle}")
        self.min_angle = float(min_angle)
        self.max_angle = float(max_angle)

    @torch.jit.export
    def rotation(self, seed: int) -> torch.Tensor:
        """(3, 3) float64 rotation matrix for ``seed`` (applied as x' = R x)."""
        generator = seeded_generator(seed, torch.zeros(0))
        axis = torch.randn(3, generator=generator, dtype=torch.float64)
        axis = axis / axis.norm()
        fraction = torch.rand(1, generator=generator, dtype=torch.float64)[0]
        angle = self.min_angle + (self.max_angle - self.min_angle) * fraction
        k = torch.zeros(3, 3, dtype=torch.float64)
        k[0, 1] = -axis[2]
        k[0, 2] = axis[1]
        k[1, 0] = axis[2]
        k[1, 2] = -axis[0]
        k[2, 0] = -axis[1]
        k[2, 1] = axis[0]
        eye = torch.eye(3, dtype=torch.float64)
        return eye + torch.sin(angle) * k + (1.0 - torch.cos(angle)) * (k @ k)

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        R = torch.stack([self.rotation(seed) for seed in seeds]).to(device=P.device, dtype=P.dtype)
        centroid = P.mean(dim=1, keepdim=True)
        P1 = (P - centroid) @ R.transpose(1, 2) + centroid
        V1 = (V @ R.transpose(1, 2).unsqueeze(1)) * mask.unsqueeze(-1).to(V.dtype)
        return P1, V1


class Displacement(nn.Module):
    """Shifts every heavy atom by a fixed vector ``shift_A`` (Angstrom); ignores the seeds."""

    def __init__(self, shift_A: Sequence[float]):
        super().__init__()
        shift = torch.as_tensor(list(shift_A), dtype=torch.float64)
        if shift.shape != (3,):
            raise ValueError(f"shift_A must have 3 components (Angstrom), got {list(shift_A)}")
        self.register_buffer("shift", shift)

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        return P + self.shift.to(P.dtype), V


class NonFinite(nn.Module):
    """A transition that returns NaN coordinates from any input: a model blowing up, or damaged weights."""

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        return P * float("nan"), V


class BlowsUpOnSeed(nn.Module):
    """RigidRotation, except that a replica whose seed is ``bad_seed`` comes back NaN."""

    def __init__(self, bad_seed: int):
        super().__init__()
        self.rotation = RigidRotation()
        self.bad_seed = bad_seed

    def forward(self, P: torch.Tensor, V: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        P1, V1 = self.rotation(P, V, S, mask, seeds)
        bad = torch.tensor([seed == self.bad_seed for seed in seeds], dtype=torch.bool, device=P.device)
        return torch.where(bad[:, None, None], torch.full_like(P1, float("nan")), P1), V1


def random_rotation(seed: int) -> torch.Tensor:
    """A proper rotation matrix (3, 3) float64, det +1."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.linalg.det(q))


def random_cloud(B: int, N: int, seed: int = 0):
    """A protein-like padded batch: P a ~3.8 A random walk (B, N, 3), V (B, N, 13, 3), S (B, N), mask (B, N, 13),
    residue_mask (B, N) with the last two residues of protein 1 padded (their P, V hold garbage)."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(B, N, 3, generator=g, dtype=torch.float64)
    length = 3.8 + 0.2 * torch.rand(B, N, 1, generator=g, dtype=torch.float64)  # no tied distances
    P = torch.cumsum(length * steps / steps.norm(dim=-1, keepdim=True), dim=1)
    mask = torch.rand(B, N, 13, generator=g) < 0.6
    mask[..., :3] = True
    V = 1.5 * torch.randn(B, N, 13, 3, generator=g, dtype=torch.float64) * mask.unsqueeze(-1)
    S = torch.randint(0, 21, (B, N), generator=g)
    residue_mask = torch.ones(B, N, dtype=torch.bool)
    if B > 1:
        residue_mask[1, -2:] = False
        mask[1, -2:] = False
    return P, V, S, mask, residue_mask


class StatefulDrift(nn.Module):
    """A stateful jump module (format_version 2) with the attributes of ``reference``, a jump module of the same
    topology: its state is a displacement per jump (R, n_atoms, 3) nm that halves every jump and gets a seeded
    kick of ``kick_nm``; positions move by it. The state starts as a seeded kick. A jump then depends on the
    state, so only a run that carried its state exactly continues exactly."""

    def __init__(self, reference: nn.Module, kick_nm: float = 0.01):
        super().__init__()
        self.format_version = 2
        self.jump_ps = float(reference.jump_ps)
        self.n_atoms = int(reference.n_atoms)
        self.temperature_K = float(reference.temperature_K)
        self.kick_nm = float(kick_nm)
        for name in ("atomic_numbers", "group_index", "expected_group_mass"):
            self.register_buffer(name, getattr(reference, name).clone())

    def _kicks(self, positions: torch.Tensor, seeds: List[int]) -> torch.Tensor:
        kicks = []
        for seed in seeds:
            generator = seeded_generator(seed, torch.zeros(0))
            kicks.append(self.kick_nm * torch.randn([self.n_atoms, 3], generator=generator, dtype=torch.float64))
        return torch.stack(kicks).to(device=positions.device, dtype=positions.dtype)

    @torch.jit.export
    def init_replicas(self, positions: torch.Tensor, seeds: List[int]) -> torch.Tensor:
        return self._kicks(positions, seeds)

    @torch.jit.export
    def jump_replicas(self, positions: torch.Tensor, state: torch.Tensor,
                      seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        state = 0.5 * state + self._kicks(positions, seeds)
        return positions + state, state

    @torch.jit.export
    def init_state(self, positions: torch.Tensor, seed: int) -> torch.Tensor:
        return self.init_replicas(positions, [seed ^ r for r in range(positions.shape[0])])

    def forward(self, positions: torch.Tensor, state: torch.Tensor, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.jump_replicas(positions, state, [seed ^ r for r in range(positions.shape[0])])
