"""The walk-jump denoiser and its walk (JAMUN): preconditioning, the loss at its optimum, BAOAB on a Gaussian,
and the equivariance of a whole walk-jump step."""
import math

import numpy as np
import pytest
import torch

from openmm_equijump.model.batch import PairBatch
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.walk import WalkConfig, WalkJumpSampler, baoab_step, clip_per_atom
from openmm_equijump.model.walkjump import (WalkJumpConfig, WalkJumpModel, atom_mask, atoms_to_cloud,
                                            centred_noise, cloud_to_atoms, denoising_loss, mean_squared_distance,
                                            preconditioning, superpose_atoms)
from openmm_equijump.testing import random_cloud, random_rotation


def test_preconditioning_against_hand_computed_values():
    # sigma 0.4 A, C 45 A^2, D 3: 2 D sigma^2 = 0.96, C + 0.96 = 45.96
    c_in, c_skip, c_out = preconditioning(0.4, 45.0)
    assert c_in == pytest.approx(0.1475061, rel=1e-6)  # 1 / sqrt(45.96)
    assert c_skip == pytest.approx(0.9791123, rel=1e-6)  # 45 / 45.96
    assert c_out == pytest.approx(0.9695090, rel=1e-6)  # sqrt(45 * 0.96 / 45.96)


def test_mean_squared_distance_counts_the_pairs_within_the_radius():
    X = torch.zeros(1, 1, 14, 3, dtype=torch.float64)
    X[0, 0, 1, 0], X[0, 0, 2, 0] = 3.0, 30.0  # atoms at x = 0, 3, 30 A; the rest padding
    weight = torch.zeros(1, 1, 14, 1, dtype=torch.float64)
    weight[0, 0, :3] = 1.0
    assert mean_squared_distance(X, weight, 10.0) == pytest.approx(9.0)  # only the pair 0-3, both ways
    assert mean_squared_distance(X, weight, 30.0) == pytest.approx((9.0 + 27.0 ** 2) / 2)


def test_cloud_and_atoms_are_one_linear_map():
    P, V, S, mask, residue_mask = random_cloud(2, 5)
    V = V * mask.unsqueeze(-1)
    P2, V2 = atoms_to_cloud(cloud_to_atoms(P, V), mask)
    torch.testing.assert_close(P2, P)
    torch.testing.assert_close(V2, V)


def test_the_loss_is_lowest_at_the_bayes_denoiser_of_a_gaussian_set():
    """Clean structures x = mu + s z and noise sigma eta, both centred Gaussians: E[x | y] = mu + k (y - mu) with
    k = s^2 / (s^2 + sigma^2), mean squared error s^2 sigma^2 / (s^2 + sigma^2) (n - 1) / n per coordinate."""
    generator = torch.Generator().manual_seed(0)
    B, N, s, sigma = 4000, 3, 0.7, 0.4
    weight = torch.ones(B, N, 14, 1, dtype=torch.float64)
    mu = centred_noise(weight[:1], generator)
    X = mu + s * centred_noise(weight, generator)
    n = N * 14
    k = s ** 2 / (s ** 2 + sigma ** 2)
    optimum = s ** 2 * sigma ** 2 / (s ** 2 + sigma ** 2) * (n - 1) / n
    noise = centred_noise(weight, generator)
    losses = {}
    for factor in (0.8, 1.0, 1.2):
        losses[factor] = denoising_loss(lambda Y: mu + factor * k * (Y - mu), X, weight, noise, sigma, 0.5, False)
    best = losses[1.0]
    assert float(best["mse_A2"]) == pytest.approx(optimum, rel=0.01)
    assert float(best["loss"]) == pytest.approx(optimum / 0.25, rel=0.01)
    # scaled_rmsd is a mean of per-structure RMS errors: Jensen's gap for 42 coordinates is below 1 %
    assert float(best["scaled_rmsd"]) == pytest.approx(math.sqrt(optimum) / sigma, rel=0.015)
    assert float(losses[0.8]["loss"]) > float(best["loss"]) < float(losses[1.2]["loss"])
    identity = denoising_loss(lambda Y: Y, X, weight, noise, sigma, 1.0, False)
    assert float(identity["scaled_rmsd"]) == pytest.approx(math.sqrt((n - 1) / n), rel=0.015)


def test_superposing_the_noisy_structure_removes_its_rotation():
    P, V, S, mask, residue_mask = random_cloud(2, 6, seed=3)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).double()
    X = cloud_to_atoms(P, V) * weight
    R = random_rotation(4)
    turned = ((X @ R.T) + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)) * weight
    torch.testing.assert_close(superpose_atoms(turned, X, weight), X, atol=1e-9, rtol=0)


@pytest.mark.parametrize("friction", [1.0, 0.1])
def test_baoab_with_an_analytic_score_samples_the_gaussian(friction):
    """BAOAB samples a harmonic target's configurations exactly at any stable step: 4000 chains of a 2D
    Gaussian (mean mu, std s per coordinate) after 300 steps have its mean and variance."""
    generator = torch.Generator().manual_seed(0)
    chains, s, delta = 4000, 0.5, 0.4
    mu = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    y = torch.zeros(chains, 1, 3, dtype=torch.float64)
    v = torch.randn(chains, 1, 3, generator=generator, dtype=torch.float64)

    def score(y):
        return -(y - mu) / s ** 2

    psi = score(y)
    for _ in range(300):
        y, v = baoab_step(y, v, psi, torch.randn(chains, 1, 3, generator=generator, dtype=torch.float64),
                          delta, friction, 1.0)
        psi = score(y)
        v = v + 0.5 * delta * psi
    standard_error = s / math.sqrt(chains)
    np.testing.assert_allclose(y.mean(0).numpy(), mu.numpy(), atol=4 * standard_error)
    np.testing.assert_allclose(y.var(0).numpy(), s ** 2, rtol=4 * math.sqrt(2 / chains))


def test_the_score_is_clipped_per_atom():
    score = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]])
    torch.testing.assert_close(clip_per_atom(score, 1.0), torch.tensor([[0.6, 0.8, 0.0], [0.3, 0.4, 0.0]]))


def small_sampler(walk_steps=2) -> WalkJumpSampler:
    torch.manual_seed(0)
    model = WalkJumpModel(ModelConfig(H=8, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=8),
                          WalkJumpConfig(sigma_A=0.4, mean_sq_distance_A2=40.0))
    return WalkJumpSampler(model.double().eval(), WalkConfig(walk_steps=walk_steps))


def test_a_whole_walk_jump_step_is_rotation_equivariant_with_rotated_noise():
    sampler = small_sampler()
    P, V, S, mask, residue_mask = random_cloud(2, 7, seed=5)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).double()
    generator = torch.Generator().manual_seed(6)
    state = torch.stack([cloud_to_atoms(P, V) * weight + 0.4 * centred_noise(weight, generator),
                         centred_noise(weight, generator), 0.3 * centred_noise(weight, generator)], dim=1)
    noise = torch.stack([centred_noise(weight, generator) for _ in range(2)])
    R = random_rotation(7)
    with torch.no_grad():
        x_hat, new_state = sampler.walk(state, noise, S, mask, residue_mask)
        x_rot, state_rot = sampler.walk(state @ R.T, noise @ R.T, S, mask, residue_mask)
    torch.testing.assert_close(x_rot, x_hat @ R.T, atol=1e-9, rtol=0)
    torch.testing.assert_close(state_rot, new_state @ R.T, atol=1e-9, rtol=0)
    assert (x_hat - state[:, 0]).abs().max() > 1e-3  # the step did move


def test_the_walk_keeps_the_heavy_atom_centroid_and_padding():
    sampler = small_sampler(walk_steps=3)
    P, V, S, mask, residue_mask = random_cloud(2, 7, seed=8)
    P, V, S, mask = P[:1], V[:1], S[0], mask[0]  # one protein, as the jump module gives it
    seeds = [11]
    with torch.no_grad():
        state = sampler.init(P, V, S, mask, seeds)
        P1, V1, state1 = sampler(P, V, S, mask, state, seeds)
    weight = atom_mask(mask[None], torch.ones(1, 7, dtype=torch.bool)).unsqueeze(-1).double()
    centroid = (state1[:, 0] * weight).sum((1, 2)) / weight.sum((1, 2))
    start = (state[:, 0] * weight).sum((1, 2)) / weight.sum((1, 2))
    torch.testing.assert_close(centroid, start, atol=1e-9, rtol=0)
    assert torch.all(V1[~mask[None]] == 0)
    # the chain's start is kept for the projection's peptide isomers, whatever the sample
    torch.testing.assert_close(sampler.isomer_anchors(P1, state1), P, atol=1e-12, rtol=0)
    # same seed, same chain; another seed, another chain
    with torch.no_grad():
        again = sampler(P, V, S, mask, state, seeds)[0]
        other = sampler(P, V, S, mask, state, [12])[0]
    torch.testing.assert_close(again, P1, atol=0, rtol=0)
    assert (other - P1).abs().max() > 1e-3


def test_the_loss_shares_of_rows_add_up_to_the_batch_loss():
    """What two training processes compute (``training.distributed``): rows 0 and 1-2 of one batch, the second
    holding a padded protein, with the whole batch's noise."""
    model = small_sampler().model
    P, V, S, mask, residue_mask = random_cloud(3, 6, seed=7)
    residue_mask[2, -3:] = False
    mask[2, -3:] = False
    batch = PairBatch(P, V, P, V, S, mask, residue_mask)
    with torch.no_grad():
        whole = model.loss(batch, torch.Generator().manual_seed(2))
        shares = [model.loss(batch, torch.Generator().manual_seed(2), rows=rows) for rows in (slice(0, 1), slice(1, 3))]
    for name, value in whole.items():
        torch.testing.assert_close(shares[0][name] + shares[1][name], value, atol=1e-12, rtol=1e-10)
