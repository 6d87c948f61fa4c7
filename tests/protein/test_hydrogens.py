"""Hydrogens, OXT and caps rebuilt after a jump: exact bond lengths, HBonds constraints still satisfied."""
import math

import openmm
import pytest
import torch
from openmm import unit
from openmm.app import HBonds, ForceField, NoCutoff, PDBFile

from openmm_equijump.protein.hydrogens import HydrogenBuilder
from openmm_equijump.protein.topology import bind_topology

from helpers import structure_file

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def chignolin():
    pdb = PDBFile(str(structure_file("chignolin_amber14.pdb")))
    x = torch.tensor(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=torch.float64)
    return pdb, bind_topology(pdb.topology), x


def rotation(angle, axis):
    axis = torch.as_tensor(axis, dtype=torch.float64)
    axis = axis / axis.norm()
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def jumped_heavy_atoms(binding, x, noise_nm, seed=0):
    """x with the moved heavy atoms rotated about their centroid and displaced by Gaussian noise; the other
    atoms left where they were (what the tensor cloud gives before the HydrogenBuilder runs)."""
    generator = torch.Generator().manual_seed(seed)
    moved = torch.as_tensor(binding.moved_index)
    centre = x[moved].mean(0)
    y = x.clone()
    y[moved] = (x[moved] - centre) @ rotation(1.1, [1.0, -2.0, 0.5]).T + centre + 0.3
    y[moved] += noise_nm * torch.randn(len(moved), 3, generator=generator, dtype=torch.float64)
    return y


def hydrogen_bonds(topology):
    return torch.tensor([(a.index, b.index) for a, b in topology.bonds()
                         if "H" in (a.element.symbol, b.element.symbol)])


def test_frames_use_the_parents_heavy_neighbours(chignolin):
    pdb, binding, _ = chignolin
    atoms = list(pdb.topology.atoms())
    frames = {atoms[i]: [atoms[j] for j in frame] for i, frame in zip(binding.rebuilt_index, binding.rebuild_frame)}
    for atom, (origin, axis, plane) in frames.items():
        if atom.element.symbol != "H":
            continue
        assert {origin, atom} in [{a, b} for a, b in pdb.topology.bonds()]
        if atom.name in ("HB2", "HB3") and atom.residue.name == "TYR":
            assert (origin.name, {axis.name, plane.name}) == ("CB", {"CA", "CG"})
        if atom.name == "H" and atom.residue.index > 0:  # backbone amide: CA and the previous residue's C
            assert {(axis.name, axis.residue.index), (plane.name, plane.residue.index)} == {
                ("CA", atom.residue.index), ("C", atom.residue.index - 1)}
        if atom.name == "HH":  # tyrosine hydroxyl: OH has one heavy neighbour, CZ, then one of CZ's
            assert (origin.name, axis.name, plane.name in ("CE1", "CE2")) == ("OH", "CZ", True)


def test_bond_lengths_to_hydrogens_are_exact(chignolin):
    pdb, binding, x = chignolin
    builder = torch.jit.script(HydrogenBuilder(binding))
    y = builder(x[None], jumped_heavy_atoms(binding, x, noise_nm=0.02)[None])[0]
    bonds = hydrogen_bonds(pdb.topology)
    before = (x[bonds[:, 0]] - x[bonds[:, 1]]).norm(dim=-1)
    after = (y[bonds[:, 0]] - y[bonds[:, 1]]).norm(dim=-1)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)
    moved = torch.as_tensor(binding.moved_index)
    torch.testing.assert_close(y[moved], jumped_heavy_atoms(binding, x, 0.02)[moved], rtol=0, atol=0)


def test_rigid_motion_moves_rebuilt_atoms_rigidly(chignolin):
    _, binding, x = chignolin
    rigid = jumped_heavy_atoms(binding, x, noise_nm=0.0)
    moved = torch.as_tensor(binding.moved_index)
    centre = x[moved].mean(0)
    expected = (x - centre) @ rotation(1.1, [1.0, -2.0, 0.5]).T + centre + 0.3
    y = HydrogenBuilder(binding)(x[None], rigid[None])[0]
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)


def test_float32_batch(chignolin):
    _, binding, x = chignolin
    after = torch.stack([jumped_heavy_atoms(binding, x, 0.01, seed) for seed in range(3)]).float()
    y = HydrogenBuilder(binding)(x[None].expand(3, -1, -1).float(), after)
    assert y.dtype == torch.float32 and y.shape == after.shape
    for r in range(3):
        single = HydrogenBuilder(binding)(x[None], after[r:r + 1].double())[0]
        torch.testing.assert_close(y[r].double(), single, rtol=0, atol=2e-6)


def test_hbond_constraints_stay_satisfied(chignolin):
    """A Context with HBonds constraints finds nothing to correct after a rotation + noise jump."""
    pdb, binding, _ = chignolin
    system = ForceField("amber14-all.xml").createSystem(pdb.topology, nonbondedMethod=NoCutoff, constraints=HBonds)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(pdb.positions)
    context.applyConstraints(1e-10)

    def positions():
        state = context.getState(getPositions=True)
        return torch.tensor(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=torch.float64)

    def constraint_correction(y):
        context.setPositions(y.numpy() * unit.nanometer)
        context.applyConstraints(1e-10)
        return (positions() - y).norm(dim=-1).max().item()

    x = positions()
    heavy_moved = jumped_heavy_atoms(binding, x, noise_nm=0.02)
    assert constraint_correction(heavy_moved) > 1e-2  # hydrogens left behind violate their constraints
    rebuilt = HydrogenBuilder(binding)(x[None], heavy_moved[None])[0]
    assert constraint_correction(rebuilt) < 1e-6
