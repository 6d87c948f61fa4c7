"""positions (nm) <-> tensor cloud (Angstrom), on real structures."""
import warnings

import numpy as np
import pytest
import torch
from openmm.app import PDBFile

from openmm_equijump.protein.tensorcloud import TensorCloudMap, positions_from_tensor_cloud, tensor_cloud_from_positions
from openmm_equijump.protein.topology import bind_topology
from openmm_equijump.protein.vocabulary import HEAVY_ATOM_ORDER, VOCABULARY

from helpers import structure_file

STRUCTURES = ["chignolin_amber14.pdb", "trpcage_amber14.pdb", "bba_amber14.pdb", "villin_amber14.pdb",
              "ntl9_amber14.pdb", "proteing_amber14.pdb", "a3d_amber14.pdb", "1FME.pdb", "2JOF.pdb"]


def load(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pdb = PDBFile(str(structure_file(name)))
    return pdb, torch.tensor(pdb.getPositions(asNumpy=True).value_in_unit(pdb.positions.unit), dtype=torch.float64)


@pytest.mark.parametrize("name", STRUCTURES)
def test_exact_round_trip(name):
    pdb, x = load(name)
    binding = bind_topology(pdb.topology)
    cloud = TensorCloudMap(binding)
    if name.startswith("chignolin"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript: kept for the jump-module format
            cloud = torch.jit.script(cloud)
    P, V = cloud.to_cloud(x[None])
    assert P.shape == (1, binding.n_residues, 3) and V.shape == (1, binding.n_residues, 13, 3)
    assert (V[0][~torch.as_tensor(binding.mask)] == 0).all()
    # rebuilding from a template of garbage must restore every moved atom; the others come from the template
    template = torch.full_like(x, 7.0)[None]
    y = cloud.to_positions(P, V, template)[0]
    moved = torch.as_tensor(binding.moved_index)
    torch.testing.assert_close(y[moved], x[moved], rtol=0, atol=1e-12)
    others = torch.ones(len(x), dtype=torch.bool)
    others[moved] = False
    assert (y[others] == 7.0).all()
    torch.testing.assert_close(cloud.to_positions(P, V, x[None])[0], x, rtol=0, atol=1e-12)


def test_cloud_is_in_angstrom_in_canonical_order():
    pdb, x = load("chignolin_amber14.pdb")
    binding = bind_topology(pdb.topology)
    P, V = TensorCloudMap(binding).to_cloud(x[None])
    atoms = list(pdb.topology.atoms())
    trp = next(k for k, s in enumerate(binding.residue_types) if VOCABULARY[s] == "TRP")
    ca = next(a for a in atoms if a.residue.index == trp and a.name == "CA")
    torch.testing.assert_close(P[0, trp], 10 * x[ca.index])
    for slot, name in enumerate(HEAVY_ATOM_ORDER["TRP"]):
        atom = next(a for a in atoms if a.residue.index == trp and a.name == name)
        torch.testing.assert_close(V[0, trp, slot], 10 * (x[atom.index] - x[ca.index]))
    assert 1.3 < V[0, :, 0].norm(dim=-1).mean() < 1.6  # N-CA bond, Angstrom


def test_batched_replicas_are_independent():
    pdb, x = load("chignolin_amber14.pdb")
    cloud = TensorCloudMap(bind_topology(pdb.topology))
    batch = torch.stack([x, x + 1.0, 2 * x])
    P, V = cloud.to_cloud(batch)
    P0, V0 = cloud.to_cloud(x[None])
    torch.testing.assert_close(P[1], P0[0] + 10.0)
    torch.testing.assert_close(V[1], V0[0])
    torch.testing.assert_close(V[2], 2 * V0[0])
    torch.testing.assert_close(cloud.to_positions(P, V, batch), batch, rtol=0, atol=1e-12)


def test_float32_stays_float32():
    pdb, x = load("chignolin_amber14.pdb")
    cloud = TensorCloudMap(bind_topology(pdb.topology))
    P, V = cloud.to_cloud(x[None].float())
    assert P.dtype == V.dtype == torch.float32
    y = cloud.to_positions(P, V, x[None].float())
    assert y.dtype == torch.float32
    torch.testing.assert_close(y[0].double(), x, rtol=0, atol=1e-6)


def test_numpy_functions():
    pdb, x = load("trpcage_amber14.pdb")
    binding = bind_topology(pdb.topology)
    xyz = x.numpy()
    P, V = tensor_cloud_from_positions(xyz, binding)  # one frame, as from mdtraj's xyz[0]
    assert isinstance(P, np.ndarray) and P.shape == (20, 3) and V.shape == (20, 13, 3)
    back = positions_from_tensor_cloud(P, V, xyz, binding)
    assert isinstance(back, np.ndarray)
    np.testing.assert_allclose(back, xyz, rtol=0, atol=1e-12)
    frames = np.stack([xyz, xyz + 0.5])
    P2, V2 = tensor_cloud_from_positions(frames, binding)
    np.testing.assert_allclose(P2[1], P + 5.0, atol=1e-12)
    Pt, Vt = tensor_cloud_from_positions(torch.as_tensor(frames), binding)
    assert isinstance(Pt, torch.Tensor)
    np.testing.assert_allclose(positions_from_tensor_cloud(Pt, Vt, torch.as_tensor(frames), binding).numpy(), frames,
                               atol=1e-12)
