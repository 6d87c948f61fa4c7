"""Tensor-cloud operations every transport shares: centring, superposition and the standard noise.

A tensor cloud X = (P, V) is handled as its two parts: anchors P (B, N, 3) and vectors V (B, N, 13, 3), both
in Angstrom, with ``residue_mask`` (B, N) and ``mask`` (B, N, 13) marking what is real. Every noise draw, loss
term and sampler update is masked: padded residues and padded vector slots are exactly zero and never count.

Translation. Only the anchors carry absolute position. Every transport keeps the C-alpha centroid of every
protein fixed by construction: the anchor noise is drawn in the zero-centroid subspace (``centred``), priors
are centred on X^t's anchor centroid, the network's anchor outputs are projected onto the zero-centroid subspace
(``EquiJumpModel.run_headers``), and the target X1 is translated so its anchor centroid equals X0's
(``align_centroid``; the centroid displacement between two MD frames is diffusion of the whole protein, which a
jump does not model). So the sampler cannot drift the protein, and a jump of a translated protein is the
translated jump.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch


def seeded_generator(seed: int, cpu_tensor: torch.Tensor) -> torch.Generator:
    """A generator on ``cpu_tensor``'s device (the CPU) seeded ``seed``, for scripted code.

    The device is read from a tensor on purpose: ``torch.Generator(device=torch.device("cpu"))`` is a constant
    that TorchScript folds into one generator object of the graph, and a saved and loaded module gets two
    copies of it, one seeded and one drawn from, so its draws no longer follow the seed."""
    generator = torch.Generator(device=cpu_tensor.device)
    generator.manual_seed(seed)
    return generator


def centred(P: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """Per-residue vectors P (B, N, 3) minus their mean over the real residues of each protein; zero on padding."""
    weight = residue_mask.unsqueeze(-1).to(P.dtype)
    mean = (P * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1.0)
    return (P - mean) * weight


def align_centroid(P1: torch.Tensor, P0: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """P1 (B, N, 3) translated so that its centroid over the real residues is that of P0."""
    return centred(P1, residue_mask) + (P0 - centred(P0, residue_mask))


def kabsch(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The proper rotation R (batch, 3, 3) that best fits centred points A (batch, M, 3) onto centred B (least
    squares, B ~ A R^T; no reflection). Padded points must be zero in both."""
    U, _, Vh = torch.linalg.svd(A.transpose(1, 2) @ B)
    flip = torch.ones_like(U[:, 0])
    flip[:, 2] = torch.sign(torch.linalg.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))  # no reflections
    return Vh.transpose(1, 2) @ torch.diag_embed(flip) @ U.transpose(1, 2)


def superpose(P1: torch.Tensor, V1: torch.Tensor, P0: torch.Tensor, residue_mask: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(P1, V1) moved rigidly onto P0: the proper rotation (Kabsch) and translation that best fit P1's real
    anchors (B, N, 3) onto P0's; the vectors V1 (B, N, 13, 3) turn with the anchors. Padding stays zero."""
    A, B = centred(P1, residue_mask), centred(P0, residue_mask)
    R = kabsch(A, B)
    rotated_P = A @ R.transpose(1, 2) + (P0 - B)
    return rotated_P * residue_mask.unsqueeze(-1).to(P0.dtype), torch.einsum("bnsi,bji->bnsj", V1, R)


def standard_noise(residue_mask: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype,
                   generator: Optional[torch.Generator]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Standard normal noise for a tensor cloud: Z_P (B, N, 3) centred on the real residues, Z_V (B, N, 13, 3)
    zero on padded slots. Drawn component-wise in the lab frame; the distribution is isotropic, so a rotated
    draw is as likely as the draw itself."""
    B, N, n_slots = mask.shape[0], mask.shape[1], mask.shape[2]
    Z_P = torch.randn([B, N, 3], generator=generator, dtype=dtype, device=mask.device)
    Z_V = torch.randn([B, N, n_slots, 3], generator=generator, dtype=dtype, device=mask.device)
    return centred(Z_P, residue_mask), Z_V * mask.unsqueeze(-1).to(dtype)
