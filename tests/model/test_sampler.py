"""The jump sampler, for every transport: reproducibility, symmetry (rotation with rotated noise, translation),
scripting, tabulated step coefficients."""
import math

import pytest
import torch
from e3nn.util.jit import script

from openmm_equijump.model.transports import TransportConfig
from openmm_equijump.model.transports.noise import standard_noise
from openmm_equijump.model.network import EquiJumpModel, ModelConfig
from openmm_equijump.model.sampler import JumpSampler, SamplerConfig
from openmm_equijump.model.transports.interpolant import relaxed_denoiser_and_noise

from openmm_equijump.testing import random_cloud, random_rotation

STEPS = 4


#: (transport, parameterization): every transport, and both parameterizations of the interpolants
TRANSPORTS = [("two_sided", "drift"), ("two_sided", "endpoint"), ("two_sided", "preconditioned"), ("one_sided", "drift"), ("one_sided", "endpoint"),
         ("one_sided", "preconditioned"),
              ("flow_matching", "endpoint"), ("ddpm", "endpoint")]


@pytest.fixture(scope="module", params=TRANSPORTS, ids=["-".join(t) for t in TRANSPORTS])
def model(request) -> EquiJumpModel:
    torch.manual_seed(0)
    kind, parameterization = request.param
    return EquiJumpModel(ModelConfig(H=8, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=8),
                         TransportConfig(kind=kind, parameterization=parameterization)).double()


@pytest.fixture(scope="module")
def sampler(model) -> JumpSampler:
    return JumpSampler(model, SamplerConfig(latent_steps=STEPS))


def _replicas():
    """Two conformations (R = 2) of one 9-residue protein: P (2, 9, 3), V (2, 9, 13, 3), S (9,), mask (9, 13)."""
    P, V, S, mask, _ = random_cloud(2, 9)
    mask = mask[0]
    return P, V * mask.unsqueeze(-1), S[0], mask


def test_jump_is_finite_masked_centroid_preserving_and_seeded(sampler):
    P, V, S, mask = _replicas()
    with torch.no_grad():
        P1, V1 = sampler(P, V, S, mask, [7, 8])
        P1_again, V1_again = sampler(P, V, S, mask, [7, 8])
        P1_other, _ = sampler(P, V, S, mask, [8, 9])
    assert P1.shape == P.shape and V1.shape == V.shape
    assert torch.isfinite(P1).all() and torch.isfinite(V1).all()
    assert torch.equal(V1[:, ~mask], torch.zeros_like(V1[:, ~mask]))
    torch.testing.assert_close(P1.mean(1), P.mean(1), atol=1e-10, rtol=0)
    assert torch.equal(P1, P1_again) and torch.equal(V1, V1_again)
    assert not torch.allclose(P1, P1_other)
    assert (P1 - P).abs().max() > 1e-3, "the jump did not move the protein"


@pytest.mark.parametrize("mode", ["sde", "ode"])
def test_jump_is_rotation_equivariant_with_rotated_noise(model, mode):
    """transport(R X, R noise) = R transport(X, noise); as the noise is isotropic, the jump's distribution is
    rotation-equivariant."""
    sampler = JumpSampler(model, SamplerConfig(latent_steps=STEPS, mode=mode))
    P, V, S, mask = _replicas()
    R_, N = P.shape[0], P.shape[1]
    masks = mask.expand(R_, N, 13)
    residue_mask = torch.ones(R_, N, dtype=torch.bool)
    D = sampler.noise_draws
    assert D == sampler.prior_draws + (STEPS if mode == "sde" else 0)
    noise_P, noise_V = standard_noise(residue_mask.repeat(D, 1), masks.repeat(D, 1, 1), torch.float64,
                                      torch.Generator().manual_seed(0))
    noise_P, noise_V = noise_P.view(D, R_, N, 3), noise_V.view(D, R_, N, 13, 3)
    R = random_rotation(11)
    with torch.no_grad():
        P1, V1 = sampler.transport(P, V, S.expand(R_, N), masks, residue_mask, noise_P, noise_V)
        P1_rot, V1_rot = sampler.transport(P @ R.T, V @ R.T, S.expand(R_, N), masks, residue_mask,
                                           noise_P @ R.T, noise_V @ R.T)
    torch.testing.assert_close(P1_rot, P1 @ R.T, atol=1e-9, rtol=0)
    torch.testing.assert_close(V1_rot, V1 @ R.T, atol=1e-9, rtol=0)


def test_jump_is_translation_equivariant(sampler):
    P, V, S, mask = _replicas()
    shift = torch.tensor([12.0, -30.0, 4.5], dtype=torch.float64)
    with torch.no_grad():
        P1, V1 = sampler(P, V, S, mask, [3, 4])
        P1_shifted, V1_shifted = sampler(P + shift, V, S, mask, [3, 4])
    torch.testing.assert_close(P1_shifted, P1 + shift, atol=1e-9, rtol=0)
    torch.testing.assert_close(V1_shifted, V1, atol=1e-9, rtol=0)


@pytest.mark.parametrize("mode", ["sde", "ode"])
def test_a_batch_of_replicas_jumps_like_separate_calls_with_the_same_seeds(model, mode):
    sampler = JumpSampler(model, SamplerConfig(latent_steps=STEPS, mode=mode))
    P, V, S, mask = _replicas()
    with torch.no_grad():
        P1, V1 = sampler(P, V, S, mask, [5, 9])
        alone = [sampler(P[r:r + 1], V[r:r + 1], S, mask, [seed]) for r, seed in enumerate((5, 9))]
        swapped, _ = sampler(P.flip(0), V.flip(0), S, mask, [9, 5])
    for r in range(2):
        torch.testing.assert_close(P1[r:r + 1], alone[r][0], atol=1e-10, rtol=0)
        torch.testing.assert_close(V1[r:r + 1], alone[r][1], atol=1e-10, rtol=0)
    torch.testing.assert_close(swapped.flip(0), P1, atol=1e-10, rtol=0)
    with pytest.raises(RuntimeError, match="2 replicas"):
        sampler(P, V, S, mask, [5])


def test_scripted_jump_matches_eager_also_after_save_and_load(sampler, tmp_path):
    P, V, S, mask = _replicas()
    scripted = script(sampler, in_place=False)
    path = tmp_path / "sampler.pt"
    torch.jit.save(scripted, str(path))
    loaded = torch.jit.load(str(path))
    # Graph-executor optimization off, as the C++ plugin runs the module (no profiling warm-up).
    with torch.no_grad(), torch.jit.optimized_execution(False):
        eager = sampler(P, V, S, mask, [42, 43])
        for other in (scripted(P, V, S, mask, [42, 43]), loaded(P, V, S, mask, [42, 43])):
            torch.testing.assert_close(other[0], eager[0], atol=1e-12, rtol=0)
            torch.testing.assert_close(other[1], eager[1], atol=1e-12, rtol=0)


def test_step_coefficients_are_tabulated_once_not_per_step(sampler):
    """The latent loop reads the rows the transport tabulated at construction: no device -> host read per step."""
    assert len(sampler.steps) == STEPS
    assert all(isinstance(c, float) for row in sampler.steps for c in row)
    assert [row[0] for row in sampler.steps] == [k / STEPS for k in range(STEPS)]
    kind = sampler.model.transport_config.kind
    if kind in ("two_sided", "one_sided", "flow_matching"):
        gamma_P, gamma_V = sampler.model.transport.gamma(torch.tensor([0.0, 1.0 / STEPS], dtype=torch.float64))
        for k in range(2):
            assert sampler.steps[k][2:4] == list(relaxed_denoiser_and_noise(float(gamma_P[k]), 1 / STEPS, 1.0, 1.0))
            assert sampler.steps[k][4:6] == list(relaxed_denoiser_and_noise(float(gamma_V[k]), 1 / STEPS, 1.0, 1.0))
    if kind == "two_sided":
        assert sampler.steps[0][2:] == [0.0, 0.0, 0.0, 0.0]  # gamma(0) = 0: pure drift from X^t
    if kind == "ddpm":
        assert sampler.steps[-1][4] == sampler.steps[-1][6] == 0.0  # the last step lands on the data: no noise


def test_denoiser_coefficient_is_capped_and_zero_where_gamma_vanishes():
    dtau = 0.01
    assert relaxed_denoiser_and_noise(0.0, dtau, 1.0, 1.0) == (0.0, 0.0)
    a, noise = relaxed_denoiser_and_noise(0.05, dtau, 1.0, 1.0)  # eps_k = 0.05^2 / 0.01 = 0.25
    assert math.isclose(a, 0.25 / 0.05) and math.isclose(noise, math.sqrt(2 * 0.25 * dtau))
    a, noise = relaxed_denoiser_and_noise(0.5, dtau, 1.0, 1.0)  # mid-interval: the paper's eps = 1
    assert math.isclose(a, 1.0 / 0.5) and math.isclose(noise, math.sqrt(2 * dtau))
    # the paper's constant eps (relaxation_limit = inf)
    assert relaxed_denoiser_and_noise(0.0, dtau, 1.0, math.inf) == (0.0, math.sqrt(2 * dtau))
    assert math.isclose(relaxed_denoiser_and_noise(0.05, dtau, 1.0, math.inf)[0], 1.0 / 0.05)


def test_settings_and_config_validation(sampler):
    settings = sampler.settings()
    assert settings["latent_steps"] == STEPS and settings["eps"] == 1.0 and settings["sde"] == 1.0
    assert all(isinstance(v, float) for v in settings.values())
    assert math.isclose(settings["noise_scale_P_A"], math.sqrt(3.0))
    with pytest.raises(ValueError, match="mode"):
        SamplerConfig(mode="heun")
    with pytest.raises(ValueError, match="latent_steps"):
        SamplerConfig(latent_steps=0)
