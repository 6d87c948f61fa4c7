"""The equivariant temporal attention layer and the temporal block: equivariance under one rotation and
translation of the whole window, and that frames do talk to each other."""
import torch

from openmm_equijump.model.nn import NeighbourGraph
from openmm_equijump.model.nn.temporal import TemporalAttention, TemporalBlock, offset_features
from openmm_equijump.testing import random_rotation

H, B, T, N = 4, 2, 5, 6


def window(seed: int = 0):
    """Hidden features (B, T, N, 4H) and positions (B, T, N, 3) of a random window, float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, N, 4 * H, generator=g, dtype=torch.float64)
    positions = torch.cumsum(torch.randn(B, T, N, 3, generator=g, dtype=torch.float64), dim=1)
    return x, positions


def rotated(x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Hidden features with every vector channel rotated by R (channel-major layout, ``nn.irreps``)."""
    vectors = x[..., H:].reshape(x.shape[:-1] + (H, 3)) @ R.T
    return torch.cat([x[..., :H], vectors.flatten(-2)], dim=-1)


def layer(seed: int = 0) -> TemporalAttention:
    torch.manual_seed(seed)
    return TemporalAttention(H, n_radial=6, r_max=10.0, n_offset_frequencies=3, length_A=10.0).double()


def test_offset_features_are_defined_for_any_offset_and_tell_sign_apart():
    f = offset_features(torch.tensor([-3.0, 0.0, 3.0, 40.0], dtype=torch.float64), 3)
    assert f.shape == (4, 7) and torch.isfinite(f).all()
    assert not torch.allclose(f[0], f[2])


def test_temporal_attention_is_rotation_and_translation_equivariant():
    attention = layer()
    x, positions = window()
    R, shift = random_rotation(7), torch.tensor([2.0, -5.0, 1.0], dtype=torch.float64)
    out = attention(x, positions)
    moved = attention(rotated(x, R), positions @ R.T + shift)
    torch.testing.assert_close(moved, rotated(out, R), atol=1e-10, rtol=1e-10)
    assert not torch.allclose(out, x)


def test_temporal_attention_reads_the_other_frames_features_and_positions_per_node():
    attention = layer()
    x, positions = window()
    out = attention(x, positions)
    x2 = x.clone()
    x2[:, 3] += 1.0  # change frame 3 only
    out2 = attention(x2, positions)
    assert (out2[:, 0] - out[:, 0]).abs().max() > 1e-3  # frame 0 attends to frame 3
    p2 = positions.clone()
    p2[:, 3, 2] += torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)  # move node 2 in frame 3
    out3 = attention(x, p2)
    assert (out3[:, 0, 2] - out[:, 0, 2]).abs().max() > 1e-4
    # ... and nodes do not talk to each other: node 4 is untouched
    torch.testing.assert_close(out3[:, :, 4], out[:, :, 4], atol=1e-12, rtol=0)


def test_the_temporal_block_is_rotation_and_translation_equivariant():
    torch.manual_seed(1)
    block = TemporalBlock(H, graph_radial=4, n_radial=6, r_max=10.0, n_offset_frequencies=3,
                          length_A=10.0).double()
    graph = NeighbourGraph(3, 4, 20.0)
    residue_mask = torch.ones(B * T, N, dtype=torch.bool)
    x, positions = window(2)
    x, positions = x.flatten(0, 1), positions.flatten(0, 1)
    R, shift = random_rotation(8), torch.tensor([-1.0, 4.0, 2.0], dtype=torch.float64)
    out = block(x, T, positions, *graph(positions, residue_mask))
    turned = positions @ R.T + shift
    moved = block(rotated(x, R), T, turned, *graph(turned, residue_mask))
    torch.testing.assert_close(moved, rotated(out, R), atol=1e-10, rtol=1e-10)
