"""The covalent geometry of real chignolin MD, and the projection that restores it after a jump."""
import math

import mdtraj
import numpy as np
import pytest
import torch

from openmm_equijump.analysis.chemistry import bond_graph, clash_counts
from openmm_equijump.model.checkpoint import load_checkpoint, save_checkpoint
from openmm_equijump.protein.covalent import (ELEMENTS, CovalentProjection, cloud_points, constrained,
                                              contact_class_names, covalent_geometry, one_four, pair_keys)
from openmm_equijump.protein.vocabulary import SERIOUS_CLASH_OVERLAP_A
from openmm_equijump.training.data.trajectories import load_protein
from openmm_equijump.training.geometry import add_covalent_geometry

from helpers import SHIPPED


REFERENCE = SHIPPED / "reference"  # heavy atoms of the chignolin MD, 10 ps per frame


@pytest.fixture(scope="module")
def topology():
    return mdtraj.load_topology(str(REFERENCE / "heavy_atoms.pdb"))


@pytest.fixture(scope="module")
def chignolin():
    return load_protein(REFERENCE / "heavy_atoms.pdb", [REFERENCE / "md_seed1.xtc"])


@pytest.fixture(scope="module")
def geometry(chignolin):
    return covalent_geometry([chignolin])


def _covalent_distances(projection, P, V):
    x = cloud_points(P, V).reshape(P.shape[0], -1, 3).double()
    return (x[:, projection.pair_a] - x[:, projection.pair_b]).norm(dim=-1)


def test_covalent_pairs_are_the_pairs_up_to_three_bonds_apart(chignolin, topology):
    binding = chignolin.binding
    moved = {int(i) for i in binding.moved_index}
    neighbours = {i: set() for i in moved}
    for bond in topology.bonds:
        a, b = bond[0].index, bond[1].index
        if a in moved and b in moved:
            neighbours[a].add(b)
            neighbours[b].add(a)
    within = {a: {1: set(neighbours[a])} for a in moved}
    for a in moved:
        within[a][2] = {c for b in within[a][1] for c in neighbours[b]} - within[a][1] - {a}
        within[a][3] = {c for b in within[a][2] for c in neighbours[b]} - within[a][2] - within[a][1] - {a}
    expected = {(frozenset((a, b)), hops) for a in moved for hops in (1, 2, 3) for b in within[a][hops]}
    index = binding.atom_index
    got = {(frozenset((int(index[ra, ca]), int(index[rb, cb]))), int(hops))
           for ra, ca, rb, cb, hops in binding.covalent_pairs}
    assert got == expected and len(got) == len(binding.covalent_pairs)
    # what the projection holds: 1-2, 1-3 and the nine peptides' C-alpha pairs
    held = constrained(binding.covalent_pairs)
    calphas = {int(i) for i in index[:, 0]}
    assert len(held) == sum(1 for _, hops in expected if hops <= 2) + 9
    assert all(int(index[ra, ca]) in calphas and int(index[rb, cb]) in calphas for ra, ca, rb, cb, hops in held
               if hops == 3)


def test_covalent_geometry_of_chignolin_md_has_textbook_values(chignolin, geometry):
    pairs = constrained(chignolin.binding.covalent_pairs)
    assert all(key in geometry for key, _ in pair_keys(chignolin.binding.residue_types, pairs))
    assert geometry["* C-* N"] == pytest.approx(1.33, abs=0.03)  # peptide bond
    assert geometry["* CA-* CA"] == pytest.approx(3.80, abs=0.1)  # trans peptide
    assert geometry["TYR CG-CD1"] == pytest.approx(1.40, abs=0.04)  # aromatic ring
    assert geometry["THR N-C"] == pytest.approx(2.46, abs=0.1)  # 1-3 across the N-CA-C angle
    # closest approach of atoms three bonds apart: N...O across N-CA-C-O, C...C across a torsion
    assert 2.3 < geometry["1-4 N-O"] < geometry["1-4 C-C"] < 3.0
    assert all(name in contact_class_names() for name in geometry if name.startswith("1-4"))


def test_one_four_pairs_are_the_three_bond_pairs_the_projection_does_not_hold(chignolin, topology):
    pairs = chignolin.binding.covalent_pairs
    beyond = one_four(pairs)
    assert len(beyond) == int((pairs[:, 4] == 3).sum()) - 9  # all but the nine peptides' C-alpha pairs
    index = chignolin.binding.atom_index
    names = {(int(index[ra, ca]), int(index[rb, cb])) for ra, ca, rb, cb, _ in beyond}
    n_of = {(a.residue.index, a.name): a.index for a in topology.atoms}
    assert (n_of[(3, "N")], n_of[(3, "O")]) in names  # N-CA-C-O of one residue
    assert (n_of[(3, "CA")], n_of[(4, "CA")]) not in names  # held instead


def _noisy_frames(chignolin, sigma_A, seed=0):
    trajectory = chignolin.trajectories[0]
    frames = torch.arange(0, trajectory.n_frames, trajectory.n_frames // 4)[:4]
    P, V = trajectory.P[frames].double(), trajectory.V[frames].double()
    generator = torch.Generator().manual_seed(seed)
    mask = chignolin.mask.unsqueeze(-1).double()
    return (P, V, P + sigma_A * torch.randn(P.shape, generator=generator, dtype=P.dtype),
            (V + sigma_A * torch.randn(V.shape, generator=generator, dtype=V.dtype)) * mask)


def test_projection_restores_covalent_geometry_and_removes_clashes_of_noisy_md_frames(chignolin, geometry, topology):
    projection = torch.jit.script(CovalentProjection(chignolin.binding, geometry, iterations=500))
    P, V, P_noisy, V_noisy = _noisy_frames(chignolin, 0.3)
    reference = projection.length.unsqueeze(0)
    assert (_covalent_distances(projection, P_noisy, V_noisy) - reference).abs().mean() > 0.2
    P1, V1 = projection(P, P_noisy, V_noisy)
    error = (_covalent_distances(projection, P1, V1) - reference).abs()
    # MD moves them by ~0.04 A (standard deviation); the medians of a ring's bonds and angles close only to ~0.01 A
    assert error.mean() < 0.01 and error.max() < 0.05, f"errors {float(error.mean()):.3f} / {float(error.max()):.3f} A"
    # no clash by the analysis' own count, and no 1-4 pair closer than the data brought its elements
    moved = chignolin.binding.moved_index  # the cloud's atoms, in cloud order
    order = np.argsort(moved)
    xyz = cloud_points(P1, V1).reshape(P1.shape[0], -1, 3)[:, projection.atoms].numpy()[:, order] / 10.0
    frames = mdtraj.Trajectory(xyz, topology.subset(moved[order]))
    assert clash_counts(frames, bond_graph(frames.topology, clash_overlap_A=SERIOUS_CLASH_OVERLAP_A)).sum() == 0
    beyond = one_four(chignolin.binding.covalent_pairs)
    symbol = {a.index: a.element.symbol for a in topology.atoms}
    index = chignolin.binding.atom_index
    bound = torch.tensor([geometry["1-4 " + "-".join(sorted((symbol[int(index[ra, ca])], symbol[int(index[rb, cb])]),
                                                           key=ELEMENTS.index))] for ra, ca, rb, cb, _ in beyond])
    x = cloud_points(P1, V1)
    gap = (x[:, beyond[:, 0], beyond[:, 1]] - x[:, beyond[:, 2], beyond[:, 3]]).norm(dim=-1) - bound
    assert gap.min() > -1e-3, f"a 1-4 pair {float(-gap.min()):.3f} A closer than the data brought its elements"
    # the C-alpha centroid stays, padded slots stay zero, and the atoms end nearer the MD frame than the noise
    torch.testing.assert_close(P1.mean(dim=1), P_noisy.mean(dim=1))
    assert torch.all(V1[:, ~chignolin.mask] == 0)
    present = torch.cat([torch.ones(chignolin.mask.shape[0], 1, dtype=torch.bool), chignolin.mask], dim=1)
    noisy_rms = (cloud_points(P_noisy, V_noisy) - cloud_points(P, V))[:, present].pow(2).sum(-1).mean().sqrt()
    projected_rms = (cloud_points(P1, V1) - cloud_points(P, V))[:, present].pow(2).sum(-1).mean().sqrt()
    assert projected_rms < 0.8 * noisy_rms


def test_projection_is_rotation_and_translation_equivariant(chignolin, geometry):
    projection = CovalentProjection(chignolin.binding, geometry, iterations=100)
    P, V, P_noisy, V_noisy = _noisy_frames(chignolin, 0.3, seed=1)
    q = torch.randn(4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a, b, c, d = (q / q.norm()).tolist()
    rotation = torch.tensor([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                             [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                             [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]],
                            dtype=torch.float64)
    shift = torch.tensor([3.0, -7.0, 11.0], dtype=torch.float64)
    P1, V1 = projection(P, P_noisy, V_noisy)
    P2, V2 = projection(P @ rotation.T + shift, P_noisy @ rotation.T + shift, V_noisy @ rotation.T)
    torch.testing.assert_close(P2, P1 @ rotation.T + shift)
    torch.testing.assert_close(V2, V1 @ rotation.T)


def test_projection_keeps_trans_peptides_trans_and_leaves_cis_ones_free(chignolin, geometry):
    projection = CovalentProjection(chignolin.binding, geometry, iterations=300)
    P, V, P_noisy, V_noisy = _noisy_frames(chignolin, 0.3, seed=3)
    ca_ca = _covalent_distances(projection, P_noisy, V_noisy)[:, projection.peptide]
    trans = _covalent_distances(projection, *projection(P, P_noisy, V_noisy))[:, projection.peptide]
    assert (trans - projection.length[projection.peptide]).abs().max() < 0.05 < (ca_ca - 3.8).abs().max()
    # from a start whose C-alphas are all closer than 3.3 A (cis), the peptides' C-alpha pairs do not act:
    # the same result as a geometry without them
    cis_start = P.mean(dim=1, keepdim=True) + 0.7 * (P - P.mean(dim=1, keepdim=True))
    without = CovalentProjection(chignolin.binding, {k: v for k, v in geometry.items()
                                                     if not (k.count("CA") == 2 and k.count(" ") == 2)},
                                 iterations=300)
    assert len(without.length) == len(projection.length) - int(projection.peptide.sum())
    for got, expected in zip(projection(cis_start, P_noisy, V_noisy), without(P, P_noisy, V_noisy)):
        torch.testing.assert_close(got, expected)


def test_zero_iterations_return_the_jump_unchanged(chignolin, geometry):
    projection = CovalentProjection(chignolin.binding, geometry, iterations=0)
    P, V, P_noisy, V_noisy = _noisy_frames(chignolin, 0.3)
    P1, V1 = projection(P, P_noisy, V_noisy)
    assert P1 is P_noisy and V1 is V_noisy


def test_pairs_without_reference_stay_free_and_are_listed(chignolin, geometry):
    partial = {k: v for k, v in geometry.items() if not k.startswith("TRP")}
    projection = CovalentProjection(chignolin.binding, partial, iterations=10)
    assert projection.unreferenced and all(k.startswith("TRP") for k in projection.unreferenced)
    assert len(projection.length) < len(chignolin.binding.covalent_pairs)


def test_bad_projection_settings_are_refused(chignolin, geometry):
    with pytest.raises(ValueError, match="iterations"):
        CovalentProjection(chignolin.binding, geometry, iterations=-1)


def test_add_covalent_geometry_records_it_in_an_older_checkpoint(tiny_model, tmp_path, geometry):
    checkpoint = tmp_path / "model.pt"
    data = load_checkpoint(tiny_model / "model.pt")
    assert "covalent_geometry" in data  # train records it
    older = {k: v for k, v in data.items() if k not in ("covalent_geometry", "format_version")}
    save_checkpoint(checkpoint, older)
    recorded = add_covalent_geometry(checkpoint, REFERENCE / "heavy_atoms.pdb", [REFERENCE / "md_seed1.xtc"])
    assert recorded == geometry
    assert load_checkpoint(checkpoint)["covalent_geometry"] == geometry
    assert math.isclose(recorded["* C-* N"], 1.33, abs_tol=0.03)
    assert np.isfinite(list(recorded.values())).all()


def test_a_checkpoint_without_covalent_geometry_loads_unprojected_with_a_warning(tiny_model, tmp_path):
    from openmm.app import PDBFile

    from openmm_equijump.runtime.load import load_model

    data = load_checkpoint(tiny_model / "model.pt")
    save_checkpoint(tmp_path / "model.pt", {k: v for k, v in data.items()
                                            if k not in ("covalent_geometry", "format_version")})
    topology = PDBFile(str(SHIPPED / "structure.pdb")).topology
    with pytest.warns(UserWarning, match="covalent geometry"):
        module = load_model(tmp_path / "model.pt", topology, latent_steps=2)
    assert module.settings["projection_iterations"] == 0.0
    assert load_model(tiny_model, topology, latent_steps=2).settings["projection_iterations"] == 500.0
