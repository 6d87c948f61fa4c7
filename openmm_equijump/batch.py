"""The training example that flows between the data pipeline and the model.

A batch holds B transitions X^t -> X^{t+lag} as tensor clouds (see ``tensorcloud``), padded to the longest
protein of the batch. All coordinates are in Angstrom.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class PairBatch:
    """B padded transitions, each of one protein.

    Shapes (N = longest protein in the batch, 13 vector slots per residue):
        P0, P1:        (B, N, 3)      anchor (C-alpha) positions at t and t + lag, Angstrom
        V0, V1:        (B, N, 13, 3)  anchor-to-atom vectors at t and t + lag, Angstrom, zero where ~mask
        S:             (B, N)         residue type indices into ``topology.VOCABULARY`` (0 where padded)
        mask:          (B, N, 13)     True where the vector slot holds a real atom
        residue_mask:  (B, N)         True for real residues, False for padding
    """

    P0: torch.Tensor
    V0: torch.Tensor
    P1: torch.Tensor
    V1: torch.Tensor
    S: torch.Tensor
    mask: torch.Tensor
    residue_mask: torch.Tensor

    def to(self, device: torch.device | str) -> "PairBatch":
        """The same batch on ``device``."""
        return PairBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @property
    def batch_size(self) -> int:
        return self.P0.shape[0]
