"""The training example that flows between the data pipeline and the model.

A batch holds B transitions X^t -> X^{t+lag} (with, for models with a history, the frames before X^t) as tensor
clouds (see ``protein.tensorcloud``), padded to the longest protein of the batch. All coordinates are in Angstrom.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from .transports.noise import standard_noise


@dataclass
class PairBatch:
    """B padded transitions, each of one protein.

    Shapes (N = longest protein in the batch, 13 vector slots per residue):
        P0, P1:        (B, N, 3)      anchor (C-alpha) positions at t and t + lag, Angstrom
        V0, V1:        (B, N, 13, 3)  anchor-to-atom vectors at t and t + lag, Angstrom, zero where ~mask
        S:             (B, N)         residue type indices into ``protein.vocabulary.VOCABULARY`` (0 where padded)
        mask:          (B, N, 13)     True where the vector slot holds a real atom
        residue_mask:  (B, N)         True for real residues, False for padding
        P_history:     (B, h, N, 3)   optional: anchors at t - lag, ..., t - h lag (newest first), Angstrom
        V_history:     (B, h, N, 13, 3)  optional: their vectors (windows for models with a history, DiffMD)
    """

    P0: torch.Tensor
    V0: torch.Tensor
    P1: torch.Tensor
    V1: torch.Tensor
    S: torch.Tensor
    mask: torch.Tensor
    residue_mask: torch.Tensor
    P_history: torch.Tensor | None = None
    V_history: torch.Tensor | None = None

    def _map(self, change) -> "PairBatch":
        """The batch with ``change`` applied to every tensor it holds (absent histories stay None)."""
        return PairBatch(**{f.name: None if getattr(self, f.name) is None else change(getattr(self, f.name))
                            for f in fields(self)})

    def to(self, device: torch.device | str) -> "PairBatch":
        """The same batch on ``device``."""
        return self._map(lambda tensor: tensor.to(device))

    def with_noisy_start(self, sigma_A: float, generator: torch.Generator | None = None) -> "PairBatch":
        """The batch with Gaussian noise of standard deviation ``sigma_A`` (Angstrom, per coordinate) added to
        the start frame X^t: anchors P0 (noise centred per protein, so the C-alpha centroid stays) and real
        vector slots of V0. The targets X^(t + lag) are untouched, so a model trained on such batches learns
        to bring a slightly distorted structure back onto a physical one: errors stop compounding over a
        long rollout of jumps."""
        Z_P, Z_V = standard_noise(self.residue_mask, self.mask & self.residue_mask.unsqueeze(-1), self.P0.dtype,
                                  generator)
        return replace(self, P0=self.P0 + sigma_A * Z_P, V0=self.V0 + sigma_A * Z_V)

    def rows(self, rows: slice) -> "PairBatch":
        """The pairs ``rows`` of the batch, padded as the whole batch is."""
        return self._map(lambda tensor: tensor[rows])

    @property
    def batch_size(self) -> int:
        return self.P0.shape[0]
