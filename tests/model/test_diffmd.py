"""DiffMD: the VE marginal of eq. 9, the acceleration rule, the score loss at its optimum, the ODE and PC samplers
with an exact score on a Gaussian, and the equivariance of a whole jump."""
import math

import pytest
import torch

from openmm_equijump.errors import ConfigError
from openmm_equijump.model.diffmd import (DiffMDModel, DiffMDSampler, DiffMDSamplerConfig, acceleration,
                                          stack_cloud)
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.transports.base import regression_loss
from openmm_equijump.model.transports.diffmd import DiffMDConfig, boosted_sigma, marginal_std
from openmm_equijump.model.transports.noise import centred

TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


@pytest.mark.parametrize("sigma", [1e-3, 0.5, 1.0, 2.0, 10.0])
def test_the_marginal_std_is_eq_9_and_that_of_the_simulated_sde(sigma):
    s = torch.tensor([0.05, 0.3, 0.7, 1.0], dtype=torch.float64)
    std = marginal_std(s, torch.tensor(math.log(sigma), dtype=torch.float64), 0.5)
    if sigma == 1.0:
        expected = 0.5 * s.sqrt()  # the limit of eq. 9: Brownian motion
    else:
        expected = 0.5 * ((sigma ** (2 * s) - 1) / (2 * math.log(sigma))).sqrt()
    torch.testing.assert_close(std, expected, rtol=1e-9, atol=0)
    # Euler-Maruyama of dx = u sigma^s dw from x(0) = 0
    generator = torch.Generator().manual_seed(0)
    steps, paths = 400, 20000
    x = torch.zeros(paths, dtype=torch.float64)
    simulated = []
    for k in range(steps):
        x = x + 0.5 * sigma ** ((k + 0.5) / steps) * math.sqrt(1 / steps) * torch.randn(paths, generator=generator,
                                                                                          dtype=torch.float64)
        if (k + 1) in (120, 280, 400):
            simulated.append(float(x.std()))
    torch.testing.assert_close(torch.tensor(simulated, dtype=torch.float64), std[1:], rtol=0.03, atol=0)


def test_the_noise_is_boosted_below_the_acceleration_threshold_only():
    threshold = 0.2
    directions = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    magnitudes = torch.tensor([0.0, 0.1, threshold, 0.3], dtype=torch.float64)
    sigma = boosted_sigma(directions * magnitudes.unsqueeze(-1), 0.5, 2.0, threshold)
    expected = 0.5 * (1 + 2.0 * torch.tensor([1.0, 0.75 ** 2, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(sigma, expected, rtol=1e-12, atol=1e-12)
    just_below = boosted_sigma(directions[:1] * (threshold * (1 - 1e-6)), 0.5, 2.0, threshold)
    assert 0.5 < float(just_below) < 0.5 + 1e-9  # continuous at the threshold


def test_the_acceleration_is_the_second_difference_of_the_atoms():
    P, V = torch.randn(3, 1, 5, 3), torch.randn(3, 1, 5, 13, 3)
    H = torch.stack([stack_cloud(P[1], V[1]), stack_cloud(P[2], V[2])], dim=1)
    atoms = [torch.cat([P[i].unsqueeze(2), P[i].unsqueeze(2) + V[i]], dim=2) for i in range(3)]
    torch.testing.assert_close(acceleration(P[0], V[0], H), atoms[0] - 2 * atoms[1] + atoms[2])


def test_the_score_loss_is_lowest_at_the_posterior_mean_noise_of_a_gaussian():
    """x1 ~ N(0, c^2), x_s = x1 + std Z: the optimum Z_hat = E[Z | x_s] = std x_s / (c^2 + std^2) reaches
    -1/2 std^2 / (c^2 + std^2); scaling it either way costs."""
    generator = torch.Generator().manual_seed(1)
    c, std = 0.7, 0.4
    Z_P, Z_V = torch.randn(4000, 6, 3, generator=generator), torch.randn(4000, 6, 13, 3, generator=generator)
    x_P = c * torch.randn(4000, 6, 3, generator=generator) + std * Z_P
    x_V = c * torch.randn(4000, 6, 13, 3, generator=generator) + std * Z_V
    mask, residue_mask = torch.ones(4000, 6, 13, dtype=torch.bool), torch.ones(4000, 6, dtype=torch.bool)
    gain = std / (c * c + std * std)

    def loss(scale):
        out = {"noise_P": scale * gain * x_P, "noise_V": scale * gain * x_V}
        return float(regression_loss(out, {"noise_P": Z_P, "noise_V": Z_V}, mask, residue_mask)["loss"])

    optimum = loss(1.0)
    assert optimum == pytest.approx(2 * -0.5 * std * std / (c * c + std * std), rel=0.02)
    assert optimum < loss(0.9) and optimum < loss(1.1)


class ExactGaussianScore(torch.nn.Module):
    """What DiffMDSampler needs of a model, with the exact noise prediction for data N(mu, c^2) per coordinate
    and one sigma_a everywhere."""

    def __init__(self, mu_P, mu_V, c, sigma, unit):
        super().__init__()
        self.mu_P, self.mu_V, self.c, self.sigma, self.unit = mu_P, mu_V, c, sigma, unit
        self.threshold = 1.0
        self.diffmd_config = DiffMDConfig(sigma_s=sigma, unit_A=unit, accel_threshold_A=1.0)

    def noise_sigma(self, P0, V0, H, mask, residue_mask):
        return torch.full_like(P0[..., :1], self.sigma), torch.full_like(V0[..., :1], self.sigma)

    def condition(self, P0, V0, H, S, mask, residue_mask):
        return P0

    def predict_noise(self, h, P0, V0, P, V, s, mask, residue_mask):
        std = marginal_std(s.view(-1, 1, 1), torch.tensor(math.log(self.sigma), dtype=P.dtype), self.unit)
        gain = std / (self.c ** 2 + std ** 2)
        return centred(gain * (P - self.mu_P), residue_mask), gain.unsqueeze(-1) * (V - self.mu_V)


def gaussian_case(solver, steps, R=2000, N=6, sigma=2.0, unit=0.3, c=0.2, eps=0.05):
    generator = torch.Generator().manual_seed(2)
    mu_P, mu_V = centred(torch.randn(1, N, 3, generator=generator, dtype=torch.float64),
                         torch.ones(1, N, dtype=torch.bool)), torch.randn(1, N, 13, 3, generator=generator,
                                                                          dtype=torch.float64)
    sampler = DiffMDSampler(DiffMDModel(TINY, DiffMDConfig(unit_A=unit, accel_threshold_A=1.0)),
                            DiffMDSamplerConfig(steps=steps, eps=eps, solver=solver, corrector_steps=1))
    sampler.model = ExactGaussianScore(mu_P, mu_V, c, sigma, unit)
    std_1 = float(marginal_std(torch.tensor(1.0), torch.tensor(math.log(sigma)), unit))
    std_eps = float(marginal_std(torch.tensor(eps), torch.tensor(math.log(sigma)), unit))
    V_start = mu_V + math.sqrt(c * c + std_1 * std_1) * torch.randn(R, N, 13, 3, generator=generator,
                                                                    dtype=torch.float64)
    P_start = mu_P.expand(R, N, 3).clone()
    mask, residue_mask = torch.ones(R, N, 13, dtype=torch.bool), torch.ones(R, N, dtype=torch.bool)
    noise_P = centred(torch.randn(sampler.noise_draws, R, N, 3, generator=generator, dtype=torch.float64)
                      .flatten(0, 1), torch.ones(sampler.noise_draws * R, N, dtype=torch.bool)
                      ).view(sampler.noise_draws, R, N, 3)
    noise_V = torch.randn(sampler.noise_draws, R, N, 13, 3, generator=generator, dtype=torch.float64)
    H = torch.zeros(R, 2, N, 14, 3, dtype=torch.float64)
    P, V = sampler.jump(P_start, V_start, H, torch.zeros(R, N, dtype=torch.int64), mask, residue_mask, noise_P,
                        noise_V)
    return V_start - mu_V, V - mu_V, math.sqrt((c * c + std_eps ** 2) / (c * c + std_1 ** 2)), c, std_eps


@pytest.mark.parametrize("solver, steps, rtol", [("heun", 20, 2e-3), ("euler", 100, 3e-2)])
def test_the_ode_with_the_exact_score_carries_the_gaussian_of_s_1_onto_that_of_eps(solver, steps, rtol):
    """For Gaussian data the probability flow is linear: x(eps) - mu = (x(1) - mu) sqrt(v(eps) / v(1)), v(s) =
    c^2 + std(s)^2, so each start maps to a known point and N(mu, v(1)) onto N(mu, v(eps))."""
    start, end, ratio, _, _ = gaussian_case(solver, steps, R=200)
    torch.testing.assert_close(end, start * ratio, rtol=rtol, atol=1e-9)


def test_the_predictor_corrector_with_the_exact_score_samples_the_gaussian_of_eps():
    _, end, _, c, std_eps = gaussian_case("pc", 50, R=500)
    assert float(end.std()) == pytest.approx(math.sqrt(c * c + std_eps ** 2), rel=0.05)
    assert abs(float(end.mean())) < 0.01


def small_sampler(solver: str) -> DiffMDSampler:
    torch.manual_seed(0)
    model = DiffMDModel(TINY, DiffMDConfig(history=2, unit_A=0.3, accel_threshold_A=0.5))
    return DiffMDSampler(model.double().eval(), DiffMDSamplerConfig(steps=3, solver=solver))


def rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.det(q))


@pytest.mark.parametrize("solver", ["heun", "pc"])
def test_a_whole_jump_is_rotation_and_translation_equivariant_with_rotated_noise(solver):
    sampler = small_sampler(solver)
    R, N = 2, 7
    generator = torch.Generator().manual_seed(3)
    P = 3.0 * torch.randn(R, N, 3, generator=generator, dtype=torch.float64)
    mask = torch.rand(R, N, 13, generator=generator) > 0.4
    V = torch.randn(R, N, 13, 3, generator=generator, dtype=torch.float64) * mask.unsqueeze(-1)
    H = torch.stack([stack_cloud(P + 0.2 * k * torch.randn(R, N, 3, generator=generator, dtype=torch.float64),
                                 V * 1.02 ** k) for k in (1, 2)], dim=1)
    S = torch.randint(0, 20, (R, N), generator=generator)
    residue_mask = torch.ones(R, N, dtype=torch.bool)
    draws = max(sampler.noise_draws, 1)
    noise_P = centred(torch.randn(draws * R, N, 3, generator=generator, dtype=torch.float64),
                      torch.ones(draws * R, N, dtype=torch.bool)).view(draws, R, N, 3)
    noise_V = torch.randn(draws, R, N, 13, 3, generator=generator, dtype=torch.float64) * mask.unsqueeze(-1)
    Q, shift = rotation(4), torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    with torch.no_grad():
        P1, V1 = sampler.jump(P, V, H, S, mask, residue_mask, noise_P, noise_V)
        H_moved = H @ Q.T
        H_moved[:, :, :, 0] += shift
        P2, V2 = sampler.jump(P @ Q.T + shift, V @ Q.T, H_moved, S, mask, residue_mask, noise_P @ Q.T, noise_V @ Q.T)
    assert float((P1 - P).abs().max()) > 1e-3  # the jump moves
    torch.testing.assert_close(P2, P1 @ Q.T + shift, rtol=0, atol=1e-9)
    torch.testing.assert_close(V2, V1 @ Q.T, rtol=0, atol=1e-9)
    # the C-alpha centroid stays where X^t has it
    torch.testing.assert_close(P1.mean(1), P.mean(1), rtol=0, atol=1e-10)


def test_the_history_changes_the_jump_and_the_state_moves_on():
    sampler = small_sampler("heun")
    N = 6
    P, V = 3.0 * torch.randn(1, N, 3, dtype=torch.float64), torch.randn(1, N, 13, 3, dtype=torch.float64)
    S, mask = torch.randint(0, 20, (N,)), torch.ones(N, 13, dtype=torch.bool)
    with pytest.warns(UserWarning, match="zero velocity"):
        state = sampler.init(P, V, S, mask, [0])
    # not a rigid motion: the history is superposed onto X^t, which removes those
    moving = torch.stack([stack_cloud(P + 0.3 * torch.randn_like(P), V), stack_cloud(P + 0.6 * torch.randn_like(P), V)],
                         dim=1)
    with torch.no_grad():
        P1, _, new_state = sampler(P, V, S, mask, state, [0])
        P2, _, _ = sampler(P, V, S, mask, moving, [0])
    assert float((P1 - P2).abs().max()) > 1e-6
    torch.testing.assert_close(new_state[:, 0], stack_cloud(P, V))
    torch.testing.assert_close(new_state[:, 1], state[:, 0])


def test_settings_are_refused_by_name():
    with pytest.raises(ConfigError, match="history"):
        DiffMDConfig(history=3)
    with pytest.raises(ConfigError, match="solver"):
        DiffMDSamplerConfig(solver="rk45")
    with pytest.raises(ConfigError, match="eps"):
        DiffMDSamplerConfig(eps=0.0)
    with pytest.raises(ValueError, match="unit_A"):
        DiffMDModel(TINY, DiffMDConfig())
