"""The window model (Align Your Structures, stage 2): alpha = 1 is the structure model exactly, the whole
window denoiser is equivariant, given frames stay fixed through sampling and steer the others, windows are
superposed onto their first frame, and the loss trains the temporal layers only."""
import pytest
import torch

from openmm_equijump.errors import ConfigError
from openmm_equijump.model.batch import PairBatch
from openmm_equijump.model.blocks import BlocksConfig, WindowModel, aligned_window, window_atoms
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.model.structure import StructureDiffusionConfig
from openmm_equijump.model.walkjump import atom_mask, cloud_to_atoms
from openmm_equijump.testing import random_cloud, random_rotation

TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=2, k_neighbors=4, n_radial=4)
T = 4


def tiny_window_model(task: str = "forward", seed: int = 0) -> WindowModel:
    torch.manual_seed(seed)
    model = WindowModel(TINY, StructureDiffusionConfig(mean_sq_distance_A2=40.0), BlocksConfig(task=task, frames=T))
    with torch.no_grad():  # learned alphas away from their start, as after training
        for part in [model.temporal.conditioner, *model.temporal.headers.values()]:
            part.mix_logit.uniform_(-1.0, 1.0)
    return model.double()


def windows(B=2, N=6, seed=3):
    """Noisy-looking windows (B, T, N, 14, 3): one random structure per window, displaced frame by frame."""
    P, V, S, mask, residue_mask = random_cloud(B, N, seed=seed)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).double()
    g = torch.Generator().manual_seed(seed)
    X = cloud_to_atoms(P, V).unsqueeze(1) + 0.7 * torch.randn((B, T, N, 14, 3), generator=g, dtype=torch.float64)
    return X * weight.unsqueeze(1), S, mask, residue_mask, weight


def test_at_alpha_1_the_window_model_is_the_structure_model_frame_by_frame_exactly():
    model = tiny_window_model()
    Y, S, mask, residue_mask, _ = windows()
    level = torch.tensor([250, 700])
    model.temporal.set_alpha(1.0)
    x_hat = model.denoise(Y, level, S, mask, residue_mask)
    for t in range(T):
        frame_level = torch.zeros_like(level) if t == 0 else level  # the forward task's frame 0 is given
        alone = model.structure.denoise(Y[:, t], frame_level, S, mask, residue_mask)
        assert torch.equal(x_hat[:, t], alone)
    model.temporal.set_alpha(None)
    mixed = model.denoise(Y, level, S, mask, residue_mask)
    assert (mixed[:, 1:] - x_hat[:, 1:]).abs().max() > 1e-4  # the temporal layers do act at learned alphas
    torch.testing.assert_close(mixed[:, 0], Y[:, 0], atol=1e-12, rtol=0)  # the given frame comes back


@pytest.mark.parametrize("task", ["unconditional", "interpolation"])
def test_the_window_denoiser_is_equivariant_to_one_rotation_and_to_frame_translations(task):
    model = tiny_window_model(task)
    Y, S, mask, residue_mask, weight = windows()
    level = torch.tensor([30, 900])
    R = random_rotation(11)
    shifts = torch.randn(1, T, 1, 1, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 5.0
    x_hat = model.denoise(Y, level, S, mask, residue_mask)
    moved = model.denoise((Y @ R.T + shifts) * weight.unsqueeze(1), level, S, mask, residue_mask)
    torch.testing.assert_close(moved, (x_hat @ R.T + shifts) * weight.unsqueeze(1), atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("task, given", [("forward", [0]), ("interpolation", [0, T - 1])])
def test_given_frames_stay_fixed_through_sampling_and_steer_the_generated_ones(task, given):
    model = tiny_window_model(task)
    X, S, mask, residue_mask, weight = windows()
    X = X - (X * weight.unsqueeze(1)).sum((2, 3), keepdim=True) / weight.unsqueeze(1).sum((2, 3), keepdim=True)
    X = X * weight.unsqueeze(1)
    sample = model.sample(X, S, mask, residue_mask, steps=6, seeds=[0] * S.shape[0])
    generated = [t for t in range(T) if t not in given]
    aligned = aligned_window(X, weight)  # given frames prepared as in training
    assert torch.allclose(aligned[:, 0], X[:, 0])  # the first frame only centred, and it was already
    for t in given:
        assert torch.equal(sample[:, t], aligned[:, t])
    assert torch.isfinite(sample).all()
    assert (sample[:, generated] - X[:, generated]).abs().max() > 1e-2
    other = X.clone()
    other[:, 0] = X[:, 0] @ random_rotation(2).T  # another given start
    resampled = model.sample(other, S, mask, residue_mask, steps=6, seeds=[0] * S.shape[0])
    assert (resampled[:, generated] - sample[:, generated]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="given_frames of shape"):
        model.sample(None, S, mask, residue_mask, steps=2)


def test_windows_are_centred_frame_by_frame_and_superposed_onto_their_first_frame():
    P, V, S, mask, residue_mask = random_cloud(2, 6, seed=5)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).double()
    P = P * residue_mask.unsqueeze(-1)
    V = V * mask.unsqueeze(-1)

    def turned(seed, shift):
        R = random_rotation(seed)
        return P @ R.T + shift, V @ R.T

    history = [turned(s, 3.0 * s) for s in (1, 2)]  # newest first: t - lag, t - 2 lag
    P1, V1 = turned(3, -4.0)
    batch = PairBatch(P0=P, V0=V, P1=P1, V1=V1, S=S, mask=mask, residue_mask=residue_mask,
                      P_history=torch.stack([h[0] for h in history], 1),
                      V_history=torch.stack([h[1] for h in history], 1))
    X = window_atoms(batch, T)
    assert X.shape == (2, T, 6, 14, 3)
    for t in range(1, T):  # rigid copies of one structure: every frame lands on the first
        torch.testing.assert_close(X[:, t], X[:, 0], atol=1e-9, rtol=0)
    centroid = (X * weight.unsqueeze(1)).sum((2, 3)) / weight.unsqueeze(1).sum((2, 3))
    torch.testing.assert_close(centroid, torch.zeros_like(centroid), atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="history"):
        window_atoms(batch, T + 1)


def test_the_loss_trains_only_the_temporal_layers_and_its_row_shares_add_up():
    model = tiny_window_model("forward")
    P, V, S, mask, residue_mask = random_cloud(3, 5, seed=6)
    P, V = P * residue_mask.unsqueeze(-1), V * mask.unsqueeze(-1)
    batch = PairBatch(P0=P, V0=V, P1=P + 0.5, V1=V, S=S, mask=mask, residue_mask=residue_mask,
                      P_history=torch.stack([P - 0.5, P - 1.0], 1), V_history=torch.stack([V, V], 1))
    losses = model.loss(batch, torch.Generator().manual_seed(0))
    losses["loss"].backward()
    assert all(p.grad is None for p in model.structure.parameters())
    assert all(p.grad is not None for p in model.temporal.parameters())
    model.temporal.set_alpha(1.0)
    base = model.loss(batch, torch.Generator().manual_seed(0))["loss"]
    half = model.loss(batch, torch.Generator().manual_seed(0), rows=slice(0, 2))["loss"]
    rest = model.loss(batch, torch.Generator().manual_seed(0), rows=slice(2, 3))["loss"]
    torch.testing.assert_close(half + rest, base)


def test_settings_are_refused_by_name():
    with pytest.raises(ConfigError, match="task"):
        BlocksConfig(task="backward")
    with pytest.raises(ConfigError, match="frames=2: the interpolation task needs at least 3"):
        BlocksConfig(task="interpolation", frames=2)
    assert BlocksConfig(task="interpolation", frames=5).given().tolist() == [True, False, False, False, True]
    assert not BlocksConfig(task="unconditional", frames=3).given().any()


def test_a_window_draws_from_its_own_seed_and_the_model_holds_each_weight_once():
    model = tiny_window_model("forward")
    X, S, mask, residue_mask, _ = windows()
    batch = model.sample(X, S, mask, residue_mask, steps=4, seeds=[5, 6])
    alone = model.sample(X[1:], S[1:], mask[1:], residue_mask[1:], steps=4, seeds=[6])
    torch.testing.assert_close(batch[1:], alone, atol=1e-9, rtol=0)
    assert (model.sample(X, S, mask, residue_mask, steps=4, seeds=[5, 7])[1] - batch[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="2 windows"):
        model.sample(X, S, mask, residue_mask, steps=4, seeds=[5])
    # the denoiser shares the model's modules without being one of them: weights saved once, modes followed
    names = list(model.state_dict())
    assert len(names) == len(set(names)) and not any(name.startswith("_denoiser") for name in names)
    model.eval()
    assert not any(m.training for m in model.denoiser.modules())
    copy = __import__("copy").deepcopy(model)
    assert copy.denoiser.structure is copy.structure and copy.denoiser.network.network is copy.structure.network
