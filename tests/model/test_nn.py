"""SO(3) equivariance (and not O(3)) of every layer and network of ``openmm_equijump.model.nn``, in float64."""
import pytest
import torch
from e3nn import o3

from openmm_equijump.model.nn import (DeepNet, EquiJumpNetwork, EquivariantLayerNorm, NeighbourGraph, SelfInteraction,
                                      SpatialConvolution, hidden_irreps, join_hidden, split_hidden)
from openmm_equijump.testing import random_cloud, random_rotation

H = 8
ATOL = 1e-9


def rotate_flat(x: torch.Tensor, irreps: o3.Irreps, R: torch.Tensor) -> torch.Tensor:
    """Flat 0e/1e features rotated by R, block by block (exact, unlike ``D_from_matrix`` in float32 mode)."""
    blocks = []
    for (mul, ir), part in zip(irreps, irreps.slices()):
        block = x[..., part]
        if ir.l == 1:
            block = (block.reshape(block.shape[:-1] + (mul, 3)) @ R.T).flatten(-2)
        blocks.append(block)
    return torch.cat(blocks, dim=-1)


@pytest.fixture(scope="module")
def network() -> EquiJumpNetwork:
    torch.manual_seed(0)
    return EquiJumpNetwork(H, conditioner_layers=2, header_layers=1, k_neighbors=4, n_radial=8, r_max=20.0,
                           n_residue_types=21, n_tau_frequencies=3, n_vectors=13).double()


def test_hidden_layout_round_trip():
    x = torch.randn(2, 5, 4 * H)
    s, u = split_hidden(x, H)
    assert s.shape == (2, 5, H) and u.shape == (2, 5, H, 3)
    assert torch.equal(join_hidden(s, u), x)
    assert hidden_irreps(H).dim == 4 * H


@pytest.mark.parametrize("irreps_in", [None, "5x0e + 3x1e"])
def test_self_interaction_is_rotation_equivariant(irreps_in):
    torch.manual_seed(1)
    irreps_in = o3.Irreps(irreps_in) if irreps_in else hidden_irreps(H)
    irreps_out = o3.Irreps("4x0e + 13x1e")
    layer = SelfInteraction(H, irreps_out, irreps_in=irreps_in).double()
    x = torch.randn(3, 7, irreps_in.dim, dtype=torch.float64)
    R = random_rotation(1)
    torch.testing.assert_close(layer(rotate_flat(x, irreps_in, R)), rotate_flat(layer(x), irreps_out, R),
                               atol=ATOL, rtol=0)


def test_layer_norm_is_rotation_equivariant_and_normalizes():
    norm = EquivariantLayerNorm(H).double()
    x = 7.0 * torch.randn(4, 6, 4 * H, dtype=torch.float64) + 3.0
    R = random_rotation(2)
    y = norm(x)
    torch.testing.assert_close(norm(rotate_flat(x, hidden_irreps(H), R)), rotate_flat(y, hidden_irreps(H), R),
                               atol=ATOL, rtol=0)
    s, u = split_hidden(y, H)
    torch.testing.assert_close(s.mean(-1), torch.zeros(4, 6, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close((u * u).sum(-1).mean(-1), torch.ones(4, 6, dtype=torch.float64), atol=1e-4, rtol=0)


def test_neighbour_graph_is_invariant_and_respects_padding():
    P, _, _, _, residue_mask = random_cloud(2, 9)
    graph = NeighbourGraph(k=4, n_radial=8, r_max=20.0).double()
    index, valid, radial, sh = graph(P, residue_mask)
    assert index.shape == (2, 9, 4)
    assert valid[residue_mask].all() and not valid[~residue_mask].any()
    own = torch.arange(9).view(1, 9, 1)
    assert not (index == own)[valid].any(), "a residue is its own neighbour"
    assert not (index[1][valid[1]] >= 7).any(), "a padded residue is someone's neighbour"
    R = random_rotation(3)
    t = torch.tensor([10.0, -4.0, 2.5], dtype=torch.float64)
    index2, valid2, radial2, sh2 = graph(P @ R.T + t, residue_mask)
    assert torch.equal(index, index2) and torch.equal(valid, valid2)
    torch.testing.assert_close(radial2, radial, atol=ATOL, rtol=0)
    torch.testing.assert_close(sh2[valid], rotate_flat(sh, o3.Irreps("0e + 1e"), R)[valid], atol=ATOL, rtol=0)


def test_neighbour_graph_of_a_small_protein_has_fewer_neighbours():
    P, _, _, _, _ = random_cloud(1, 3)
    index, valid, _, _ = NeighbourGraph(k=16, n_radial=4, r_max=10.0).double()(P, torch.ones(1, 3, dtype=torch.bool))
    assert index.shape == (1, 3, 2) and valid.all()


def test_spatial_convolution_is_rotation_equivariant():
    torch.manual_seed(4)
    P, _, _, _, residue_mask = random_cloud(2, 9)
    graph = NeighbourGraph(k=4, n_radial=8, r_max=20.0).double()
    conv = SpatialConvolution(H, n_radial=8).double()
    x = torch.randn(2, 9, 4 * H, dtype=torch.float64)
    R = random_rotation(4)
    y = conv(x, *graph(P, residue_mask))
    y_rot = conv(rotate_flat(x, hidden_irreps(H), R), *graph(P @ R.T, residue_mask))
    torch.testing.assert_close(y_rot, rotate_flat(y, hidden_irreps(H), R), atol=ATOL, rtol=0)


def test_deep_net_is_equivariant_and_blind_to_padding():
    torch.manual_seed(5)
    irreps_in, irreps_out = o3.Irreps("6x0e + 13x1e"), o3.Irreps("13x1e")
    net = DeepNet(irreps_in, irreps_out, H, layers=2, n_radial=8).double()
    graph = NeighbourGraph(k=4, n_radial=8, r_max=20.0).double()
    P, _, _, _, residue_mask = random_cloud(2, 9)
    x = torch.randn(2, 9, irreps_in.dim, dtype=torch.float64)
    R = random_rotation(5)
    y = net(x, residue_mask, *graph(P, residue_mask))
    torch.testing.assert_close(net(rotate_flat(x, irreps_in, R), residue_mask, *graph(P @ R.T, residue_mask)),
                               rotate_flat(y, irreps_out, R), atol=ATOL, rtol=0)
    assert torch.equal(y[1, -2:], torch.zeros_like(y[1, -2:]))
    x2, P2 = x.clone(), P.clone()
    x2[1, -2:] = 100.0
    P2[1, -2:] = P[1, 0]
    torch.testing.assert_close(net(x2, residue_mask, *graph(P2, residue_mask)), y, atol=ATOL, rtol=0)


def _network_outputs(net, P, V, S, mask, residue_mask, P_tau, V_tau, tau):
    h = net.condition(P, V, S, mask, residue_mask)
    return h, net.run_headers(h, P, V, P_tau, V_tau, tau, mask, residue_mask)


def test_network_conditioner_and_headers_are_rotation_equivariant(network):
    net = network
    P, V, S, mask, residue_mask = random_cloud(2, 9)
    P_tau, V_tau = P + 0.3 * torch.randn_like(P), (V + 0.2 * torch.randn_like(V)) * mask.unsqueeze(-1)
    tau = torch.tensor([0.3, 0.8], dtype=torch.float64)
    R = random_rotation(6)
    h, out = _network_outputs(net, P, V, S, mask, residue_mask, P_tau, V_tau, tau)
    h_rot, out_rot = _network_outputs(net, P @ R.T, V @ R.T, S, mask, residue_mask, P_tau @ R.T, V_tau @ R.T, tau)
    torch.testing.assert_close(h_rot, rotate_flat(h, hidden_irreps(H), R), atol=ATOL, rtol=0)
    assert set(out) == {"b_P", "b_V", "eta_P", "eta_V"}
    for name, original in out.items():
        torch.testing.assert_close(out_rot[name], original @ R.T, atol=ATOL, rtol=0)
        assert original.abs().max() > 1e-3, "a trivially zero output would pass any equivariance test"


def test_network_tells_a_protein_from_its_mirror_image(network):
    """A reflection is not a symmetry: the output for the mirrored protein is not the mirrored output."""
    net = network
    P, V, S, mask, residue_mask = random_cloud(2, 9)
    P_tau, V_tau = P + 0.3 * torch.randn_like(P), (V + 0.2 * torch.randn_like(V)) * mask.unsqueeze(-1)
    tau = torch.tensor([0.3, 0.8], dtype=torch.float64)
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    _, out = _network_outputs(net, P, V, S, mask, residue_mask, P_tau, V_tau, tau)
    _, out_mirror = _network_outputs(net, P @ M, V @ M, S, mask, residue_mask, P_tau @ M, V_tau @ M, tau)
    for name, original in out.items():
        relative = (out_mirror[name] - original @ M).norm() / original.norm()
        assert relative > 1e-2, f"network is (nearly) reflection-equivariant: relative difference {relative:.2e}"


def test_headers_get_bounded_conditioner_features_whatever_the_conditioner_learned():
    """The conditioner's features are layer-normalized before they enter the headers: a conditioner whose
    weights grew a thousandfold (training drives them up; the headers square their input twice) hands over
    features of the same size. Without this, float32 overflowed in training."""
    torch.manual_seed(4)
    net = EquiJumpNetwork(H, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=8, r_max=20.0,
                          n_residue_types=21, n_tau_frequencies=3, n_vectors=13)
    P, V, S, mask, residue_mask = random_cloud(2, 7, seed=5)
    P, V = P.float(), V.float()
    with torch.no_grad():
        before = net.condition(P, V, S, mask, residue_mask)
        for parameter in net.conditioner.final.parameters():
            parameter.mul_(1000.0)
        after = net.condition(P, V, S, mask, residue_mask)
        out = net.run_headers(after, P, V, P, V, torch.full([2], 0.5), mask, residue_mask)
    real = residue_mask
    for h in (before, after):
        s, u = split_hidden(h[real], H)
        torch.testing.assert_close(s.std(-1, unbiased=False), torch.ones(s.shape[0]), atol=1e-3, rtol=0)
        torch.testing.assert_close((u * u).sum(-1).mean(-1), torch.ones(u.shape[0]), atol=1e-3, rtol=0)
    assert all(torch.isfinite(y).all() for y in out.values())
    assert float(after[~real].abs().max()) == 0.0
