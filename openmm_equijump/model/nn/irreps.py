"""The hidden irreps ``H x 0e + H x 1e`` and conversions between their flat and split layouts."""
from typing import Tuple

import torch
from e3nn import o3


def hidden_irreps(H: int) -> o3.Irreps:
    """``H x 0e + H x 1e``: H scalars and H vectors (SO(3) only, see the package docstring)."""
    return o3.Irreps(f"{H}x0e + {H}x1e")


def split_hidden(x: torch.Tensor, H: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flat hidden features (..., 4H) -> scalars (..., H) and vectors (..., H, 3)."""
    scalars = x[..., :H]
    vectors = x[..., H:].reshape(x.shape[:-1] + (H, 3))
    return scalars, vectors


def join_hidden(scalars: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Scalars (..., a) and vectors (..., b, 3) -> flat irreps ``a x 0e + b x 1e`` (..., a + 3b)."""
    return torch.cat([scalars, vectors.flatten(-2)], dim=-1)
