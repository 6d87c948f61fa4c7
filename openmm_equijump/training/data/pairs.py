"""The (X^t, X^{t+lag}) transitions of a set of trajectories, their train/validation split and batches.

Split (``split_by_trajectory``): consecutive frames are strongly correlated, so validation frames come from
trajectories the model never trains on. Per protein, whole trajectories are moved to validation (in an order
shuffled by the seed) while they fit in ``fraction`` of the protein's frames; if none fits, the shortest
goes, as long as one trajectory stays for training. A protein with a single trajectory gives its trailing
``fraction`` of frames to validation instead (no pair straddles the cut). No pair ever spans two files.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ...model.batch import PairBatch
from .trajectories import CHUNK_FRAMES, CloudTrajectory, ProteinData, TrajectoryError

# A heavy atom further than this from its own C-alpha means a residue split across the periodic box.
MAX_ANCHOR_DISTANCE_A = 10.0


@dataclass(frozen=True)
class Segment:
    """Frames ``start:stop`` of trajectory ``trajectory`` of protein ``protein`` (indices into the lists)."""

    protein: int
    trajectory: int
    start: int
    stop: int


def lag_in_frames(trajectory: CloudTrajectory, lag_ps: float) -> int:
    """``lag_ps`` as a whole number of frames of ``trajectory``; raises TrajectoryError otherwise. A lag of 0
    makes every "pair" a single frame (X^t, X^t): the data of a model without time (the walk-jump denoiser)."""
    if lag_ps == 0:
        return 0
    ratio = lag_ps / trajectory.frame_ps
    frames = round(ratio)
    if frames < 1 or not math.isclose(ratio, frames, rel_tol=1e-6, abs_tol=1e-6):
        raise TrajectoryError(
            f"trajectory {trajectory.path}: the lag of {lag_ps:g} ps is not a whole multiple of its frame "
            f"interval of {trajectory.frame_ps:g} ps; choose a lag of k x {trajectory.frame_ps:g} ps "
            f"(or correct the frame interval with --frame-ps)")
    return frames


def check_trajectories(proteins: list[ProteinData], lag_ps: float) -> None:
    """Raise TrajectoryError for a trajectory too short for the lag or with a residue torn apart."""
    for protein in proteins:
        for trajectory in protein.trajectories:
            lag = lag_in_frames(trajectory, lag_ps)
            if trajectory.n_frames <= lag:
                raise TrajectoryError(
                    f"trajectory {trajectory.path}: {trajectory.n_frames} frame(s) of {trajectory.frame_ps:g} "
                    f"ps hold no pair {lag_ps:g} ps apart (at least {lag + 1} frames needed)")
            # chunked: a memory-mapped trajectory is never read into memory whole
            distance = torch.cat([V.norm(dim=-1).amax(dim=-1) for V in trajectory.V.split(CHUNK_FRAMES)])  # (T, N)
            if distance.max() > MAX_ANCHOR_DISTANCE_A:
                frame, residue = np.unravel_index(int(distance.argmax()), tuple(distance.shape))
                raise TrajectoryError(
                    f"trajectory {trajectory.path}: in frame {frame} an atom of residue {residue} is "
                    f"{float(distance.max()):.1f} A from its C-alpha: the protein is split across the "
                    f"periodic box; make it whole first (gmx trjconv -pbc mol, cpptraj autoimage, or "
                    f"mdtraj's Trajectory.image_molecules)")


def split_by_trajectory(proteins: list[ProteinData], fraction: float, lag_ps: float,
                        seed: int) -> tuple[list[Segment], list[Segment]]:
    """Training and validation segments; see the module docstring for the rule."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for p, protein in enumerate(proteins):
        lengths = [t.n_frames for t in protein.trajectories]
        whole = [Segment(p, i, 0, n) for i, n in enumerate(lengths)]
        if fraction == 0.0:
            train += whole
            continue
        target = fraction * sum(lengths)
        if len(lengths) >= 2:
            held, held_frames = [], 0
            for i in rng.permutation(len(lengths)):
                if held_frames + lengths[i] <= target and len(held) < len(lengths) - 1:
                    held.append(int(i))
                    held_frames += lengths[i]
            if not held:
                held = [int(np.argmin(lengths))]
            validation += [s for s in whole if s.trajectory in held]
            train += [s for s in whole if s.trajectory not in held]
            continue
        n = lengths[0]
        lag = lag_in_frames(protein.trajectories[0], lag_ps)
        cut = n - int(round(fraction * n))
        if cut <= lag or n - cut <= lag:
            warnings.warn(f"protein {protein.name}: its one trajectory ({n} frames) is too short to give "
                          f"{fraction:.0%} of it to validation; training on all of it", stacklevel=2)
            train.append(whole[0])
            continue
        train.append(Segment(p, 0, 0, cut))
        validation.append(Segment(p, 0, cut, n))
    return train, validation


class TransitionPairs:
    """Every pair (frame t, frame t + lag) inside the given segments, and batches of them; with ``history`` h > 0,
    every window (t - h lag, ..., t - lag, t, t + lag) instead (its batches carry the earlier frames).

    Each pair is centred on the mean C-alpha position at t (the same shift for every frame, so the
    transition is unchanged).
    """

    def __init__(self, proteins: list[ProteinData], segments: list[Segment], lag_ps: float, history: int = 0):
        self.proteins = proteins
        self.segments = segments
        self.history = history
        protein, trajectory, frame, lag = [], [], [], []
        for segment in segments:
            steps = lag_in_frames(proteins[segment.protein].trajectories[segment.trajectory], lag_ps)
            starts = np.arange(segment.start + history * steps, segment.stop - steps)
            protein.append(np.full(starts.size, segment.protein))
            trajectory.append(np.full(starts.size, segment.trajectory))
            frame.append(starts)
            lag.append(np.full(starts.size, steps))
        self.protein, self.trajectory, self.frame, self.lag = map(_int64, (protein, trajectory, frame, lag))

    def __len__(self) -> int:
        return self.frame.shape[0]

    def batch(self, indices: torch.Tensor) -> PairBatch:
        """The pairs ``indices`` (1-D int64) as one PairBatch padded to the longest protein in it."""
        indices = indices.tolist()
        n_max = max(self.proteins[self.protein[i]].n_residues for i in indices)
        B = len(indices)
        P0 = torch.zeros(B, n_max, 3)
        P1 = torch.zeros(B, n_max, 3)
        V0 = torch.zeros(B, n_max, 13, 3)
        V1 = torch.zeros(B, n_max, 13, 3)
        S = torch.zeros(B, n_max, dtype=torch.int64)
        mask = torch.zeros(B, n_max, 13, dtype=torch.bool)
        residue_mask = torch.zeros(B, n_max, dtype=torch.bool)
        P_history = torch.zeros(B, self.history, n_max, 3) if self.history else None
        V_history = torch.zeros(B, self.history, n_max, 13, 3) if self.history else None
        for b, i in enumerate(indices):
            protein = self.proteins[self.protein[i]]
            trajectory = protein.trajectories[self.trajectory[i]]
            t, n = int(self.frame[i]), protein.n_residues
            centre = trajectory.P[t].mean(dim=0)
            P0[b, :n] = trajectory.P[t] - centre
            P1[b, :n] = trajectory.P[t + int(self.lag[i])] - centre
            V0[b, :n] = trajectory.V[t]
            V1[b, :n] = trajectory.V[t + int(self.lag[i])]
            S[b, :n] = protein.residue_types
            mask[b, :n] = protein.mask
            residue_mask[b, :n] = True
            for k in range(self.history):
                earlier = t - (k + 1) * int(self.lag[i])
                P_history[b, k, :n] = trajectory.P[earlier] - centre
                V_history[b, k, :n] = trajectory.V[earlier]
        return PairBatch(P0=P0, V0=V0, P1=P1, V1=V1, S=S, mask=mask, residue_mask=residue_mask,
                         P_history=P_history, V_history=V_history)

    def frames_of_protein(self, protein: int) -> torch.Tensor:
        """Indices of the pairs that belong to protein ``protein``."""
        return torch.nonzero(self.protein == protein).flatten()


class PairSampler:
    """Draws pair indices with replacement, uniformly or with given per-pair weights."""

    def __init__(self, n_pairs: int, weights: torch.Tensor | None = None):
        if n_pairs == 0:
            raise ValueError("no training pairs: every trajectory is shorter than the lag")
        self.n_pairs = n_pairs
        self.weights = None if weights is None else weights.double()

    def draw(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        if self.weights is None:
            return torch.randint(self.n_pairs, (batch_size,), generator=generator)
        return torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)


def _int64(parts: list[np.ndarray]) -> torch.Tensor:
    """Concatenated index arrays as one int64 tensor (empty when there are none)."""
    return torch.from_numpy(np.concatenate(parts).astype(np.int64)) if parts else torch.zeros(0, dtype=torch.int64)


def evenly_spaced(n_items: int, count: int) -> torch.Tensor:
    """At most ``count`` indices spread evenly over range(n_items) (the fixed validation subset)."""
    if n_items <= count:
        return torch.arange(n_items)
    return torch.from_numpy(np.unique(np.linspace(0, n_items - 1, count).round().astype(np.int64)))
