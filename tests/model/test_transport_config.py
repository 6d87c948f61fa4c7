"""The transport choice, the two-sided interpolant, its losses and the model's training objective."""
import math
from dataclasses import replace

import pytest
import torch

from openmm_equijump.model.batch import PairBatch
from openmm_equijump.model.transports import TransportConfig, TwoSidedInterpolant, make_transport
from openmm_equijump.model.transports.noise import align_centroid, centred, standard_noise, superpose
from openmm_equijump.model.network import EquiJumpModel, ModelConfig

from openmm_equijump.testing import random_cloud, random_rotation


def test_noise_reading_is_a_setting_with_variance_as_default():
    default = TransportConfig()
    assert (default.scale_P, default.scale_V) == (math.sqrt(3.0), 1.0)
    scale = TransportConfig(noise_reading="scale")
    assert (scale.scale_P, scale.scale_V) == (3.0, 1.0)
    with pytest.raises(ValueError, match="noise_reading"):
        TransportConfig(noise_reading="std")
    with pytest.raises(ValueError, match="kind='ddim' is not a transport; choose one of"):
        TransportConfig(kind="ddim")
    with pytest.raises(ValueError, match="sigma_P"):
        TransportConfig(sigma_P=0.0)
    assert isinstance(make_transport(default), TwoSidedInterpolant)


def _pair(seed=0):
    P0, V0, S, mask, residue_mask = random_cloud(2, 9, seed)
    P1, V1, _, _, _ = random_cloud(2, 9, seed + 1)
    return P0, V0, P1, V1 * mask.unsqueeze(-1), S, mask, residue_mask


def test_interpolant_hits_both_ends_and_gamma_vanishes_there():
    interpolant = TwoSidedInterpolant(TransportConfig(noise_reading="scale"))
    P0, V0, P1, V1, _, mask, residue_mask = _pair()
    Z_P, Z_V = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(0))
    for t, (P_end, V_end) in ((0.0, (P0, V0)), (1.0, (P1, V1))):
        tau = torch.full([2], t, dtype=torch.float64)
        P, V = interpolant.interpolate(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask)
        assert torch.equal(P, P_end) and torch.equal(V, V_end)
    gamma_P, gamma_V = interpolant.gamma(torch.tensor([0.5], dtype=torch.float64))
    assert (gamma_P.item(), gamma_V.item()) == (0.75, 0.25)


def test_noise_is_masked_centred_and_reproducible():
    _, _, _, mask, residue_mask = random_cloud(2, 9)
    Z_P, Z_V = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(3))
    assert torch.equal(Z_V[~mask], torch.zeros_like(Z_V[~mask]))
    assert torch.equal(Z_P[~residue_mask], torch.zeros_like(Z_P[~residue_mask]))
    torch.testing.assert_close(Z_P.sum(1), torch.zeros(2, 3, dtype=torch.float64), atol=1e-12, rtol=0)
    again = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(3))
    assert torch.equal(again[0], Z_P) and torch.equal(again[1], Z_V)


def test_superpose_undoes_a_rigid_motion_of_the_target_and_ignores_padding():
    P0, V0, _, _, _, mask, residue_mask = _pair()
    w_P = residue_mask.unsqueeze(-1).double()
    P0, V0 = P0 * w_P, V0 * mask.unsqueeze(-1)
    R = torch.stack([random_rotation(3), random_rotation(4)])
    P1 = (torch.einsum("bni,bji->bnj", P0, R) + torch.tensor([4.0, -9.0, 2.5], dtype=torch.float64)) * w_P
    V1 = torch.einsum("bnsi,bji->bnsj", V0, R)
    P, V = superpose(P1, V1, P0, residue_mask)
    torch.testing.assert_close(P, P0, atol=1e-10, rtol=0)
    torch.testing.assert_close(V, V0, atol=1e-10, rtol=0)
    # a mirror image is not a rigid motion: superposing it must not reflect it back
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    P_mirror, _ = superpose(P0 @ M, V0 @ M, P0, residue_mask)
    assert (P_mirror - P0).abs().max() > 0.5


def test_align_centroid_moves_the_target_onto_the_start_centroid():
    P0, _, P1, _, _, _, residue_mask = _pair()
    aligned = align_centroid(P1, P0, residue_mask)
    w = residue_mask.unsqueeze(-1).double()
    centroid = lambda P: (P * w).sum(1) / w.sum(1)  # noqa: E731
    torch.testing.assert_close(centroid(aligned), centroid(P0), atol=1e-12, rtol=0)
    torch.testing.assert_close(centred(aligned, residue_mask), centred(P1, residue_mask), atol=1e-12, rtol=0)


def test_losses_reach_their_floor_at_the_targets_and_have_the_right_sign():
    interpolant = TwoSidedInterpolant(TransportConfig(parameterization="drift"))
    P0, V0, P1, V1, _, mask, residue_mask = _pair()
    Z_P, Z_V = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(1))
    tau = torch.tensor([0.25, 0.7], dtype=torch.float64)
    gd_P, gd_V = interpolant.gamma_dot(tau)
    w_P = residue_mask.unsqueeze(-1).double()
    targets = {"b_P": (P1 - P0 + gd_P.view(-1, 1, 1) * Z_P) * w_P, "b_V": V1 - V0 + gd_V.view(-1, 1, 1, 1) * Z_V,
               "eta_P": Z_P, "eta_V": Z_V}
    args = (P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask)
    at_target = interpolant.loss(targets, *args)
    torch.testing.assert_close(at_target["loss"], at_target["floor"], atol=1e-12, rtol=0)
    # eta-loss is 1/2 |eta|^2 - Z . eta: predicting +Z beats predicting -Z (the "+ Z . eta" misprint reverses it)
    flipped = interpolant.loss({**targets, "eta_P": -Z_P, "eta_V": -Z_V}, *args)
    assert flipped["eta_P"] > at_target["eta_P"] and flipped["eta_V"] > at_target["eta_V"]
    perturbed = {name: t + 0.1 * torch.randn_like(t) for name, t in targets.items()}
    assert interpolant.loss(perturbed, *args)["loss"] > at_target["loss"]


@pytest.mark.parametrize("parameterization", ["endpoint", "preconditioned"])
def test_end_state_loss_floor_and_the_drift_and_denoiser_it_implies(parameterization):
    """With its exact target the end-state header's loss is at its floor, and the b and eta it implies are the
    drift and denoiser targets of the same pair and noise: the parameterizations agree."""
    endpoint = TwoSidedInterpolant(TransportConfig(parameterization=parameterization))
    drift = TwoSidedInterpolant(TransportConfig(parameterization="drift"))
    assert endpoint.outputs == ("x1",) and drift.outputs == ("b", "eta")
    P0, V0, P1, V1, _, mask, residue_mask = _pair()
    Z_P, Z_V = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(3))
    # pair 0 at tau = 0 with Z = 0: the target is then E[target | X^t], the regression's value there
    Z_P[0], Z_V[0] = 0.0, 0.0
    tau = torch.tensor([0.0, 0.7], dtype=torch.float64)
    w_P, w_V = residue_mask.unsqueeze(-1).double(), mask.unsqueeze(-1).double()
    P0, P1, V0 = P0 * w_P, P1 * w_P, V0 * w_V  # as the model hands them over
    targets = endpoint.targets(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask)
    out = {"x1_P": targets["x1_P"] * w_P, "x1_V": targets["x1_V"] * w_V}
    losses = endpoint.loss(out, P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask)
    assert set(losses) == {"loss", "x1_P", "x1_V", "floor"}
    torch.testing.assert_close(losses["loss"], losses["floor"], atol=1e-12, rtol=0)
    P_tau, V_tau = endpoint.interpolate(P0, V0, P1, V1, tau, Z_P, Z_V, residue_mask)
    b_P, b_V, eta_P, eta_V = endpoint.drift_and_denoiser(out, P0, V0, P_tau, V_tau, tau, residue_mask)
    gd_P, gd_V = endpoint.gamma_dot(tau)
    # pair 1 (tau = 0.7): eta is the noise itself, b the drift target
    torch.testing.assert_close(eta_P[1], Z_P[1], atol=1e-10, rtol=0)
    torch.testing.assert_close(eta_V[1], Z_V[1] * w_V[1], atol=1e-10, rtol=0)
    torch.testing.assert_close(b_P[1], (P1 - P0 + gd_P.view(-1, 1, 1) * Z_P)[1] * w_P[1], atol=1e-10, rtol=0)
    torch.testing.assert_close(b_V[1], ((V1 - V0 + gd_V.view(-1, 1, 1, 1) * Z_V) * w_V)[1], atol=1e-10, rtol=0)
    # pair 0 (tau = 0, gamma = 0): X_0 = X0 holds no noise, eta = 0 and b = D (no division by zero)
    assert torch.equal(eta_P[0], torch.zeros_like(eta_P[0])) and torch.equal(eta_V[0], torch.zeros_like(eta_V[0]))
    torch.testing.assert_close(b_P[0], (P1 - P0)[0] * w_P[0], atol=1e-9, rtol=0)
    torch.testing.assert_close(b_V[0], ((V1 - V0) * w_V)[0], atol=1e-9, rtol=0)


def test_default_parameterization_is_the_preconditioned_end_state():
    assert TransportConfig().parameterization == "preconditioned"


def test_losses_ignore_padded_slots_and_residues():
    interpolant = TwoSidedInterpolant(TransportConfig(parameterization="drift"))
    P0, V0, P1, V1, _, mask, residue_mask = _pair()
    Z_P, Z_V = standard_noise(residue_mask, mask, torch.float64, torch.Generator().manual_seed(2))
    tau = torch.tensor([0.4, 0.6], dtype=torch.float64)
    prediction = {name: torch.randn_like(x) for name, x in (("b_P", P0), ("b_V", V0), ("eta_P", P0), ("eta_V", V0))}
    args = (P0, V0, P1, V1, tau, Z_P, Z_V, mask, residue_mask)
    reference = interpolant.loss(prediction, *args)
    garbage = {}
    for name, x in prediction.items():
        x = x.clone()
        x[~(residue_mask if name.endswith("_P") else mask)] = 1e3
        garbage[name] = x
    V1_garbage = V1.clone()
    V1_garbage[~mask] = -50.0
    polluted = interpolant.loss(garbage, P0, V0, P1, V1_garbage, tau, Z_P, Z_V, mask, residue_mask)
    for name, value in reference.items():
        torch.testing.assert_close(polluted[name], value, atol=1e-12, rtol=0)


HEADERS = {"drift": {"b_P", "b_V", "eta_P", "eta_V"}, "endpoint": {"x1_P", "x1_V"}}


@pytest.fixture(scope="module", params=sorted(HEADERS))
def model(request) -> EquiJumpModel:
    torch.manual_seed(0)
    return EquiJumpModel(ModelConfig(H=8, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=8),
                         TransportConfig(parameterization=request.param)).double()


def _batch(seed=0) -> PairBatch:
    P0, V0, P1, V1, S, mask, residue_mask = _pair(seed)
    return PairBatch(P0=P0, V0=V0, P1=P1, V1=V1, S=S, mask=mask, residue_mask=residue_mask)


def test_model_loss_is_scalar_differentiable_and_reproducible(model):
    batch = _batch()
    losses = model.loss(batch, torch.Generator().manual_seed(5))
    headers = HEADERS[model.transport_config.parameterization]
    assert set(losses) == {"loss", "floor"} | headers
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    model.zero_grad()
    losses["loss"].backward()
    assert set(model.parameter_counts()) == {"conditioner", "total"} | {f"header_{h}" for h in headers}
    parts = {"conditioner": model.network.conditioner, **model.network.headers}
    for part, module in parts.items():
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), f"no gradient reaches {part}"
    again = model.loss(batch, torch.Generator().manual_seed(5))
    torch.testing.assert_close(again["loss"], losses["loss"], atol=0, rtol=0)


def test_model_loss_ignores_translations_of_either_frame(model):
    """The network sees only relative positions and the target is moved onto the start's centroid, so the
    whole-protein displacement between the two frames does not enter the loss."""
    batch = _batch()
    shifted = _batch()
    shifted.P0 = batch.P0 + torch.tensor([5.0, -3.0, 1.0], dtype=torch.float64)
    shifted.P1 = batch.P1 + torch.tensor([-20.0, 7.0, 4.0], dtype=torch.float64)
    with torch.no_grad():
        a = model.loss(batch, torch.Generator().manual_seed(6))
        b = model.loss(shifted, torch.Generator().manual_seed(6))
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-9, rtol=0)


def test_model_loss_ignores_a_rotation_of_the_target_frame(model):
    """With ``superpose_target`` the target is superposed onto the start: the whole protein's rotation between
    the frames does not enter the loss; with only the centroid aligned (the paper's lab frame), it does."""
    batch = _batch()
    R = random_rotation(9)
    turned = _batch()
    turned.P1, turned.V1 = batch.P1 @ R.T, batch.V1 @ R.T
    superposing = EquiJumpModel(model.model_config, replace(model.transport_config, superpose_target=True))
    lab_frame = EquiJumpModel(model.model_config, replace(model.transport_config, superpose_target=False))
    lab_frame.load_state_dict(superposing.state_dict())
    superposing, lab_frame = superposing.double(), lab_frame.double()
    with torch.no_grad():
        a = superposing.loss(batch, torch.Generator().manual_seed(6))
        b = superposing.loss(turned, torch.Generator().manual_seed(6))
        c = lab_frame.loss(batch, torch.Generator().manual_seed(6))
        d = lab_frame.loss(turned, torch.Generator().manual_seed(6))
    torch.testing.assert_close(b["loss"], a["loss"], atol=1e-9, rtol=0)
    assert abs(float(c["floor"] - d["floor"])) > 1e-3


def test_parameter_counts_add_up(model):
    counts = model.parameter_counts()
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    assert counts["total"] == sum(p.numel() for p in model.parameters())
