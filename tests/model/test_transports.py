"""Every transport on a case with a known answer, and every transport trained, exported and run in OpenMM.

The known answer: X^(t + lag) | X^t Gaussian, X1 = X0 + m + sigma1 xi (xi standard normal, centred for the
anchors). Every transport's latent state is then x - O = a (X1 - O) + g Z and every target is
T = p (X1 - O) + q Z + r (X0 - O), linear in (xi, Z), so the optimal prediction E[T | x] is a linear regression
whose coefficients follow from the paper's definitions, written out here independently of the transports:
    two_sided      O = X0,        a = tau,           g = s tau (1 - tau)
    one_sided, fm  O = centroid,  a = tau,           g = s (1 - tau)
    ddpm           O = centroid,  a = sqrt(abar),    g = s sqrt(1 - abar)
    targets        b = X1 - O + g'(tau) Z, eta = Z, x1 = X1 - X0, velocity = X1 - O - s Z, noise = Z
The loss must be lowest there (and equal its analytic expectation), and the sampler driven by these optimal
predictions must reproduce the Gaussian.
"""
import math

import numpy as np
import pytest
import torch
from openmm import unit
from openmm.app import PDBFile, Simulation

from openmm_equijump.runtime.integrator import EquiJumpIntegrator
from openmm_equijump.model.transports import TransportConfig, make_transport
from openmm_equijump.model.transports.noise import standard_noise
from openmm_equijump.md.reference import native_obc2_system
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.runtime.load import load_model
from openmm_equijump.model.sampler import SamplerConfig
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train
from openmm_equijump.model.transports import TRANSPORTS

from helpers import SHIPPED, read_losses

CASES = [("two_sided", "drift"), ("two_sided", "endpoint"), ("two_sided", "preconditioned"), ("one_sided", "drift"),
         ("one_sided", "endpoint"), ("one_sided", "preconditioned"), ("flow_matching", "endpoint"), ("ddpm", "endpoint")]
IDS = ["-".join(c) for c in CASES]
SIGMA1 = 0.6  # A, spread of X1 | X0
N = 4


def test_every_registered_transport_is_covered():
    assert {kind for kind, _ in CASES} == set(TRANSPORTS)


def _gaussian_pairs(B, seed):
    """X0 fixed per residue, X1 = X0 + m + SIGMA1 xi: P0, V0, P1, V1 (B, N, ...), the mean shift (m_P, m_V), masks."""
    g = torch.Generator().manual_seed(seed)
    residue_mask = torch.ones(B, N, dtype=torch.bool)
    mask = torch.ones(B, N, 13, dtype=torch.bool)
    P0 = (3.8 * torch.randn(1, N, 3, generator=g, dtype=torch.float64)).expand(B, N, 3)
    V0 = (1.5 * torch.randn(1, N, 13, 3, generator=g, dtype=torch.float64)).expand(B, N, 13, 3)
    m_P = torch.randn(1, N, 3, generator=g, dtype=torch.float64)
    m_P = m_P - m_P.mean(1, keepdim=True)
    m_V = torch.randn(1, N, 13, 3, generator=g, dtype=torch.float64)
    xi_P, xi_V = standard_noise(residue_mask, mask, torch.float64, g)
    return P0, V0, P0 + m_P + SIGMA1 * xi_P, V0 + m_V + SIGMA1 * xi_V, (m_P, m_V), residue_mask, mask


def _path(kind, s, tau):
    """(origin is the centroid, a, g, g') of x - O = a (X1 - O) + g Z at latent time tau (float)."""
    if kind == "two_sided":
        return False, tau, s * tau * (1 - tau), s * (1 - 2 * tau)
    if kind in ("one_sided", "flow_matching"):
        return True, tau, s * (1 - tau), -s
    abar = make_transport(TransportConfig(kind="ddpm")).alpha_bar(torch.tensor(tau, dtype=torch.float64))
    return True, math.sqrt(float(abar)), s * math.sqrt(1 - float(abar)), 0.0


def _target(name, s, a, g, g_dot, sigma):
    """(p, q, r) of T = p (X1 - O) + q Z + r (X0 - O); "x1_preconditioned" is the "preconditioned" end state
    with prior scale sigma."""
    if name == "x1_preconditioned":
        norm = math.sqrt(a * a * sigma * sigma + g * g)
        return g / (sigma * norm), -sigma * a / norm, 0.0
    return {"b": (1.0, g_dot, 0.0), "eta": (0.0, 1.0, 0.0), "x1": (1.0, 0.0, -1.0), "velocity": (1.0, -s, 0.0),
            "noise": (0.0, 1.0, 0.0)}[name]


def _optimum(transport, kind, name, part, x, X0, m, tau, s):
    """E[T | x] for header <name>_<part> of ``transport`` at latent state x (B, N, ...) and time tau (float)."""
    centroid, a, g, g_dot = _path(kind, s, tau)
    O = X0.mean(1, keepdim=True).expand_as(X0) if centroid and part == "P" else (X0 if not centroid else 0 * X0)
    if getattr(transport, "preconditioned", False):
        sigma = transport.endpoint_scale_P if part == "P" else transport.endpoint_scale_V
        a_, g_ = max(a, 1e-6), _path(kind, s, max(tau, 1e-6))[2]  # the transport's clamp at tau = 0
        p, q, r = _target("x1_preconditioned", s, a_, g_, g_dot, sigma)
    else:
        p, q, r = _target(name, s, a, g, g_dot, None)
    mu1 = X0 - O + m
    variance = a * a * SIGMA1 ** 2 + g * g
    k = (a * p * SIGMA1 ** 2 + g * q) / variance if variance > 0 else 0.0  # tau = 0 of two_sided: x = X0
    fluctuation = (x - O - a * mu1) / math.sqrt(max(variance, 1e-30))  # unit variance per coordinate
    return p * mu1 + r * (X0 - O) + k * (x - O - a * mu1), p * mu1 + r * (X0 - O), k, variance, fluctuation


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loss_is_lowest_at_the_analytic_optimum_of_a_gaussian_jump(case, tau):
    kind, parameterization = case
    transport = make_transport(TransportConfig(kind=kind, parameterization=parameterization))
    P0, V0, P1, V1, (m_P, m_V), residue_mask, mask = _gaussian_pairs(1500, seed=1)
    _, Z_P, Z_V = transport.draw(P0.shape[0], residue_mask, mask, torch.float64, torch.Generator().manual_seed(2))
    taus = torch.full([P0.shape[0]], tau, dtype=torch.float64)
    P_tau, V_tau = transport.interpolate(P0, V0, P1, V1, taus, Z_P, Z_V, residue_mask)
    args = (P0, V0, P1, V1, taus, Z_P, Z_V, mask, residue_mask)
    optimum, floor, fluctuation = {}, {}, {}
    for name in transport.outputs:
        for part, x, X0, m, s, dof in (("P", P_tau, P0, m_P, transport.scale_P, 1 - 1 / N),
                                       ("V", V_tau, V0, m_V, transport.scale_V, 1.0)):
            header = f"{name}_{part}"
            optimum[header], mean, k, variance, fluctuation[header] = _optimum(transport, kind, name, part, x, X0, m, tau, s)
            # E[1/2 f*^2 - T f*] = -1/2 E[f*^2]; the anchors' noise lives in the (N - 1)/N centred subspace
            floor[header] = -0.5 * float((mean ** 2).mean() + k * k * variance * dof)
    best = transport.loss(optimum, *args)
    for header, value in floor.items():
        assert abs(float(best[header]) - value) < 0.03 * abs(value) + 0.01, (header, float(best[header]), value)
    for header, f in optimum.items():
        for perturbed in (f + 0.2 * fluctuation[header], f - 0.2 * fluctuation[header], f + 0.2, f - 0.2):
            worse = transport.loss({**optimum, header: perturbed}, *args)
            assert worse[header] > best[header], (header, float(worse[header]), float(best[header]))


@pytest.mark.parametrize("mode", ["sde", "ode"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sampler_with_the_analytic_optimum_reproduces_the_gaussian_jump(case, mode):
    """start + K steps of the transport, driven by the optimal predictions, give X1 - X0 ~ N(m, SIGMA1^2)."""
    kind, parameterization = case
    transport = make_transport(TransportConfig(kind=kind, parameterization=parameterization))
    K = 100
    rows = transport.schedule(K, 1.0, 1.0, mode == "sde")
    P0, V0, _, _, (m_P, m_V), residue_mask, mask = _gaussian_pairs(500, seed=3)
    g = torch.Generator().manual_seed(4)
    prior = standard_noise(residue_mask, mask, torch.float64, g) if transport.prior_draws else (None, None)
    P, V = transport.start(P0, V0, prior[0], prior[1], residue_mask)
    for row in rows:
        tau = torch.full([P0.shape[0]], row[0], dtype=torch.float64)
        out = {}
        for name in transport.outputs:
            out[f"{name}_P"] = _optimum(transport, kind, name, "P", P, P0, m_P, row[0], transport.scale_P)[0]
            out[f"{name}_V"] = _optimum(transport, kind, name, "V", V, V0, m_V, row[0], transport.scale_V)[0]
        noise = standard_noise(residue_mask, mask, torch.float64, g) if mode == "sde" else (None, None)
        P, V = transport.step(out, P0, V0, P, V, tau, row, noise[0], noise[1], residue_mask)
    torch.testing.assert_close(P.mean(1), P0.mean(1), atol=1e-9, rtol=0)  # the centroid never moves
    for X, X0, m, dof in ((P, P0, m_P, 1 - 1 / N), (V, V0, m_V, 1.0)):
        residual = X - X0 - m
        # 0.15 A: sampling error of 500 draws. DDPM's start puts X^t in place of X1 in its sqrt(a0) = 10 % signal
        # share; ancestral steps forget that, the deterministic DDIM carries it (up to 10 % of the mean jump m)
        tolerance = 0.15 + (0.1 * float(m.abs().max()) if (kind, mode) == ("ddpm", "ode") else 0.0)
        assert residual.mean(0).abs().max() < tolerance, f"{kind} {mode}: mean off by {residual.mean(0).abs().max()}"
        std = float(residual.pow(2).mean().sqrt()) / math.sqrt(dof)
        if kind == "two_sided" and mode == "ode":
            # the ODE from the single point X^t is deterministic: it gives a mean-like jump, not a sample
            assert std < 0.1 * SIGMA1
        else:
            assert abs(std - SIGMA1) < 0.06 * SIGMA1, f"{kind} {mode}: spread {std:.3f}, expected {SIGMA1}"


TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_each_transport_trains_exports_and_runs_in_an_openmm_simulation(kind, tmp_path):
    """A few real training steps on the shipped chignolin MD, ``load_model`` and a jump through
    ``EquiJumpIntegrator`` inside ``openmm.app.Simulation``: finite positions that moved, centroid kept.

    One jump: five steps leave DDPM's noise header nearly untrained, its jump inflates chignolin, and a second
    jump from there overflows the network (float32) on the inflated structure."""
    config = TrainConfig(
        datasets=[DatasetConfig(str(SHIPPED / "reference" / "heavy_atoms.pdb"),
                                [str(SHIPPED / "reference" / f"md_seed{s}.xtc") for s in (1, 2)])],
        steps=5, batch_size=2, validation_pairs=4, validate_every=5, checkpoint_every=5, temperature_K=350.0,
        model=TINY, transport=TransportConfig(kind=kind))
    train(config, tmp_path, progress=False)
    losses = [r for r in read_losses(tmp_path) if r["split"] == "train"]
    assert len(losses) == 5 and all(math.isfinite(float(r["loss"])) for r in losses)
    pdb = PDBFile(str(SHIPPED / "structure.pdb"))
    module = load_model(tmp_path, pdb.topology, sampler=SamplerConfig(latent_steps=20))
    simulation = Simulation(pdb.topology, native_obc2_system(pdb.topology), EquiJumpIntegrator(module, seed=7))
    simulation.context.setPositions(pdb.positions)
    simulation.step(1)
    start = pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    x = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    assert simulation.context.getStepCount() == 1
    assert np.isfinite(x).all() and np.abs(x - start).max() > 0.1
    ca = [atom.index for atom in pdb.topology.atoms() if atom.name == "CA"]
    assert np.abs(x[ca].mean(0) - start[ca].mean(0)).max() < 1e-3, "the jump moved the C-alpha centroid"
