"""The structure diffusion model (Align Your Structures, stage 1): DDPM's levels in variance-exploding form, the
ancestral sampler on a Gaussian, and the denoiser: clean at level 0, equivariant, the walk-jump denoiser's
preconditioning at every level."""
import math

import pytest
import torch

from openmm_equijump.errors import ConfigError
from openmm_equijump.model.ancestral import ancestral_sample, respaced_levels
from openmm_equijump.model.batch import PairBatch
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.structure import StructureDiffusionConfig, StructureModel, noise_levels
from openmm_equijump.model.walkjump import atom_mask, cloud_to_atoms, preconditioning
from openmm_equijump.testing import random_cloud, random_rotation

TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


def tiny_structure_model(seed: int = 0) -> StructureModel:
    torch.manual_seed(seed)
    return StructureModel(TINY, StructureDiffusionConfig(mean_sq_distance_A2=40.0)).double()


def test_the_levels_are_ddpm_in_variance_exploding_form():
    sigma = noise_levels(StructureDiffusionConfig())
    assert sigma.shape == (1001,) and sigma[0] == 0.0
    assert float(sigma[1]) == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)), rel=1e-12)  # abar_1 = 1 - beta_1
    abar = 1.0
    for k in range(1000):
        abar *= 1.0 - (1e-4 + k * (0.02 - 1e-4) / 999)
    assert float(sigma[-1]) == pytest.approx(math.sqrt((1 - abar) / abar), rel=1e-9)
    assert 150.0 < float(sigma[-1]) < 160.0 and bool((sigma[1:] > sigma[:-1]).all())
    doubled = noise_levels(StructureDiffusionConfig(unit_A=2.0))
    torch.testing.assert_close(doubled, 2.0 * sigma)


def test_respaced_levels_start_at_the_top_and_end_clean():
    assert respaced_levels(1000, 5) == [1000, 750, 500, 251, 1, 0]
    assert respaced_levels(10, 50) == list(range(10, -1, -1))
    assert respaced_levels(1000, 1) == [1000, 0]


def sampled_variance(sigma, schedule, s):
    """The variance the ancestral sampler of ``model.ancestral`` ends at on N(mu, s^2) data with its exact
    denoiser: each step maps y - mu linearly and adds independent noise."""
    variance = 1.0 + sigma[schedule[0]] ** 2
    for t, u in zip(schedule[:-1], schedule[1:]):
        k = s ** 2 / (s ** 2 + sigma[t] ** 2)
        if u == 0:
            return k * k * variance
        r = sigma[u] ** 2 / sigma[t] ** 2
        variance = (k + r * (1 - k)) ** 2 * variance + sigma[u] ** 2 * (1 - r)


@pytest.mark.parametrize("steps, shortfall", [(1000, 0.01), (100, 0.08)])
def test_the_ancestral_sampler_with_the_exact_denoiser_samples_a_gaussian(steps, shortfall):
    """Data x ~ N(mu, s^2) per coordinate: E[x | y] = mu + s^2 / (s^2 + sigma^2) (y - mu). DDPM's ancestral
    steps with this denoiser end at the data's mean and at the variance the step rule predicts, which falls
    short of s^2 only by the plug-in of E[x | y] for x (less the more levels are visited)."""
    generator = torch.Generator().manual_seed(0)
    mu, s = 1.5, 2.0
    sigma = noise_levels(StructureDiffusionConfig()).tolist()
    schedule = respaced_levels(1000, steps)

    def denoise(y, level):
        return mu + s ** 2 / (s ** 2 + sigma[level] ** 2) * (y - mu)

    x = ancestral_sample(denoise, lambda: torch.randn(20000, 3, generator=generator, dtype=torch.float64), sigma,
                         schedule, 1.0)
    expected = sampled_variance(sigma, schedule, s)
    assert float(x.mean()) == pytest.approx(mu, abs=0.05)
    assert float(x.var()) == pytest.approx(expected, rel=0.02)
    assert s ** 2 * (1 - shortfall) < expected <= s ** 2


def noisy_structures(B=2, N=6, seed=2):
    P, V, S, mask, residue_mask = random_cloud(B, N, seed=seed)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).double()
    return cloud_to_atoms(P, V) * weight, S, mask, residue_mask, weight


def test_the_denoiser_returns_a_clean_structure_unchanged_at_level_0_and_is_the_preconditioning():
    model = tiny_structure_model()
    Y, S, mask, residue_mask, weight = noisy_structures()
    x_hat = model.denoise(Y, torch.zeros(2, dtype=torch.int64), S, mask, residue_mask)
    torch.testing.assert_close(x_hat, Y, atol=1e-12, rtol=0)
    # the tables are walkjump.preconditioning at sigma_tau (one formula for both denoisers)
    sigma = float(model.sigma[300])
    c_in, c_skip, c_out = preconditioning(sigma, 40.0)
    assert float(model.c_skip[300]) == pytest.approx(c_skip, rel=1e-12)
    assert float(model.c_out[300]) == pytest.approx(c_out, rel=1e-12)
    assert float(model.input_scale[300]) == pytest.approx(c_in * math.sqrt(40.0), rel=1e-12)


@pytest.mark.parametrize("level", [1, 400, 1000])
def test_the_denoiser_is_rotation_and_translation_equivariant(level):
    model = tiny_structure_model()
    Y, S, mask, residue_mask, weight = noisy_structures()
    Y = Y * (1.0 + float(model.sigma[level]) / 10.0)  # as spread out as a structure at that level
    levels = torch.full([2], level, dtype=torch.int64)
    R, shift = random_rotation(5), torch.tensor([3.0, -1.0, 7.0], dtype=torch.float64)
    x_hat = model.denoise(Y, levels, S, mask, residue_mask)
    moved = model.denoise(((Y @ R.T) + shift) * weight, levels, S, mask, residue_mask)
    torch.testing.assert_close(moved, ((x_hat @ R.T) + shift) * weight, atol=1e-8, rtol=1e-8)


def test_the_loss_draws_levels_and_trains_the_network():
    model = tiny_structure_model()
    P, V, S, mask, residue_mask = random_cloud(3, 6, seed=4)
    batch = PairBatch(P0=P, V0=V, P1=P, V1=V, S=S, mask=mask, residue_mask=residue_mask)
    losses = model.loss(batch, torch.Generator().manual_seed(0))
    assert {"loss", "mse_A2", "scaled_rmsd"} <= set(losses) and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.network.parameters() if p.requires_grad)
    half = model.loss(batch, torch.Generator().manual_seed(0), rows=slice(0, 2))
    rest = model.loss(batch, torch.Generator().manual_seed(0), rows=slice(2, 3))
    torch.testing.assert_close(half["loss"] + rest["loss"], losses["loss"].detach())


def test_sampling_gives_centred_finite_structures_with_padding_zero():
    model = tiny_structure_model()
    _, S, mask, residue_mask, weight = noisy_structures()
    residue_mask[1, -2:] = False
    x = model.sample(S, mask, residue_mask, steps=4, generator=torch.Generator().manual_seed(0))
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(x.dtype)
    assert torch.isfinite(x).all() and torch.equal(x * (1 - weight), torch.zeros_like(x))
    centroid = (x * weight).sum((1, 2)) / weight.sum((1, 2))
    torch.testing.assert_close(centroid, torch.zeros_like(centroid), atol=1e-4, rtol=0)


def test_settings_are_refused_by_name():
    with pytest.raises(ConfigError, match="levels"):
        StructureDiffusionConfig(levels=0)
    with pytest.raises(ConfigError, match="beta_start <= beta_end"):
        StructureDiffusionConfig(beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="mean_sq_distance_A2"):
        StructureModel(TINY, StructureDiffusionConfig())
