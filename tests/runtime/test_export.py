"""The jump module: RigidRotation / Displacement transitions bound to real topologies, scripted, saved, loaded."""

import numpy as np
import pytest
import torch
from openmm import Vec3, unit
from openmm.app import ForceField, HBonds, Modeller, NoCutoff, PDBFile, Topology

from openmm_equijump.runtime.export import (
    FORMAT_VERSION, export_jump_module, jump_module_bytes, load_jump_module, save_jump_module,
)
from openmm_equijump.testing import Displacement, RigidRotation
from openmm_equijump.protein.topology import TopologyError, bind_topology
from openmm_equijump.runtime.load import load_model

from helpers import structure_file

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def load(name):
    pdb = PDBFile(str(structure_file(name)))
    return pdb.topology, torch.tensor(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=torch.float64)


def export(transition, topology, **kwargs):
    return export_jump_module(transition, topology, jump_ps=100.0, temperature_K=350.0,
                              settings={"latent_steps": 20, "eps": 1.0}, **kwargs)


def rotated_about_ca_centroid(x, binding, R):
    centre = x[torch.as_tensor(binding.atom_index[:, 0])].mean(0)
    return (x - centre) @ R.T + centre


@pytest.fixture(scope="module")
def chignolin():
    topology, x = load("chignolin_amber14.pdb")
    return topology, x, bind_topology(topology), export(RigidRotation(), topology)


def test_contract_attributes(chignolin):
    topology, _, binding, module = chignolin
    assert isinstance(module, torch.jit.ScriptModule)
    assert module.format_version == FORMAT_VERSION and module.jump_ps == 100.0 and module.temperature_K == 350.0
    assert module.n_atoms == topology.getNumAtoms() == 166
    assert module.settings == {"latent_steps": 20.0, "eps": 1.0, "projection_iterations": 0.0}
    assert module.atomic_numbers.dtype == torch.int64 and module.group_index.dtype == torch.int64
    assert module.expected_group_mass.dtype == torch.float64
    np.testing.assert_array_equal(module.atomic_numbers.numpy(), binding.atomic_numbers)
    np.testing.assert_array_equal(module.group_index.numpy(), binding.group_index)


def test_rigid_rotation_jump(chignolin):
    topology, x, binding, module = chignolin
    seed = 11
    y = module(x[None].float(), seed)
    assert y.dtype == torch.float32 and y.shape == (1, 166, 3)
    expected = rotated_about_ca_centroid(x, binding, RigidRotation().rotation(seed))
    # every atom, heavy (moved) and hydrogen/OXT (rebuilt), lands where the rigid rotation puts it
    torch.testing.assert_close(y[0].double(), expected, rtol=0, atol=2e-6)
    moved = torch.as_tensor(binding.moved_index)
    assert ((y[0, moved].double() - x[moved]).norm(dim=-1) > 1e-3).all()
    bonds = torch.tensor([(a.index, b.index) for a, b in topology.bonds()
                          if "H" in (a.element.symbol, b.element.symbol)])
    length = lambda p: (p[bonds[:, 0]] - p[bonds[:, 1]]).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(length(y[0].double()), length(x), rtol=0, atol=1e-6)


def test_a_scripted_transition_can_be_exported(chignolin):
    topology, x, _, module = chignolin
    scripted = export(torch.jit.script(RigidRotation()), topology)
    assert torch.equal(scripted(x[None].float(), 4), module(x[None].float(), 4))


def test_same_seed_same_jump(chignolin):
    _, x, _, module = chignolin
    x32 = x[None].float()
    assert torch.equal(module(x32, 5), module(x32, 5))
    assert not torch.allclose(module(x32, 5), module(x32, 6))


def test_replicas_are_independent_and_each_has_its_own_seed(chignolin):
    _, x, _, module = chignolin
    batch = torch.stack([x, x + 0.7]).float()
    y = module.jump_replicas(batch, [3, 8])
    torch.testing.assert_close(y[0], module(batch[:1], 3)[0])
    torch.testing.assert_close(y[1], module(batch[1:], 8)[0])
    # forward(positions, seed) gives replica r the seed seed ^ r
    torch.testing.assert_close(module(batch, 3), module.jump_replicas(batch, [3, 2]))
    with pytest.raises(torch.jit.Error, match="one seed per replica"):
        module.jump_replicas(batch, [3])


def test_save_load_round_trip(chignolin, tmp_path):
    _, x, _, module = chignolin
    path = tmp_path / "jump.pt"
    save_jump_module(module, path)
    x32 = x[None].float()
    for loaded in (load_jump_module(path), load_jump_module(str(path)), load_jump_module(jump_module_bytes(module))):
        assert torch.equal(loaded(x32, 9), module(x32, 9))
        assert loaded.n_atoms == 166 and loaded.jump_ps == 100.0 and loaded.settings == module.settings
        assert torch.equal(loaded.expected_group_mass, module.expected_group_mass)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_jump_module(tmp_path / "missing.pt")


def test_wrong_shape_is_refused(chignolin):
    _, x, _, module = chignolin
    with pytest.raises(torch.jit.Error, match=r"expected positions of shape \(R, 166, 3\)"):
        module(x[None, :100].float(), 0)


def test_bad_parameters_are_refused(chignolin):
    topology = chignolin[0]
    with pytest.raises(ValueError, match="jump_ps"):
        export_jump_module(RigidRotation(), topology, jump_ps=0.0, temperature_K=350.0)
    with pytest.raises(ValueError, match="temperature_K"):
        export_jump_module(RigidRotation(), topology, jump_ps=100.0, temperature_K=float("nan"))
    with pytest.raises(ValueError, match="settings"):
        export_jump_module(RigidRotation(), topology, jump_ps=100.0, temperature_K=350.0, settings={"steps": "many"})
    with pytest.raises(ValueError, match="transition"):
        export_jump_module(lambda *a: a, topology, jump_ps=100.0, temperature_K=350.0)


def test_expected_group_mass_survives_hydrogen_mass_repartitioning(chignolin):
    topology, _, _, module = chignolin
    system = ForceField("amber14-all.xml").createSystem(topology, nonbondedMethod=NoCutoff, constraints=HBonds,
                                                        hydrogenMass=4 * unit.amu)
    masses = torch.tensor([system.getParticleMass(i).value_in_unit(unit.amu) for i in range(system.getNumParticles())],
                          dtype=torch.float64)
    group_mass = torch.zeros_like(masses).index_add_(0, module.group_index, masses)[module.group_index]
    assert masses.max() >= 4.0 and (masses[module.atomic_numbers == 1] == 4.0).all()
    # element masses (openmm.app.element) vs the force field's (amber: H 1.008, N 14.01): ~0.005 amu per group
    torch.testing.assert_close(group_mass, module.expected_group_mass, rtol=0, atol=0.01)
    assert (group_mass - module.expected_group_mass).abs().max() > 1e-4  # really the force field's masses


def test_displacement_keeps_fixed_non_protein_atoms():
    topology, x = load("CLN025.pdb")
    with pytest.raises(TopologyError, match="explicit water"):
        export(Displacement([1.0, 2.0, -3.0]), topology)
    module = export(Displacement([1.0, 2.0, -3.0]), topology, non_protein="fixed")
    binding = bind_topology(topology, non_protein="fixed")
    y = module(x[None].float(), 0)[0].double()
    shift = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64)  # Angstrom -> nm
    fixed = torch.as_tensor(binding.fixed_index)
    assert torch.equal(y[fixed], x[fixed].float().double())
    torch.testing.assert_close(y[torch.as_tensor(binding.moved_index)], x[torch.as_tensor(binding.moved_index)] + shift,
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(y[torch.as_tensor(binding.rebuilt_index)],
                               x[torch.as_tensor(binding.rebuilt_index)] + shift, rtol=0, atol=1e-6)  # OXT


def test_non_finite_transition_output_propagates(chignolin):
    topology, x, _, _ = chignolin
    module = export(Displacement([float("nan"), 0.0, 0.0]), topology)
    assert not torch.isfinite(module(x[None].float(), 0)).all()


def capped_chignolin():
    """ACE-YDPETGTW-NME with amber14 hydrogens: chignolin's first residue cut to an acetyl cap, its last to an
    N-methylamide cap (Modeller.addHydrogens knows both caps)."""
    topology, x = load("chignolin_amber14.pdb")
    keep = {0: {"CA": "CH3", "C": "C", "O": "O"}, 9: {"N": "N", "CA": "C"}}
    capped = Topology()
    chain = capped.addChain("A")
    positions = []
    for residue in topology.residues():
        names = keep.get(residue.index)
        new_residue = capped.addResidue({0: "ACE", 9: "NME"}.get(residue.index, residue.name), chain, residue.id)
        for atom in residue.atoms():
            if atom.element.symbol == "H" or atom.name == "OXT" or (names is not None and atom.name not in names):
                continue
            capped.addAtom(names[atom.name] if names else atom.name, atom.element, new_residue)
            positions.append(x[atom.index].tolist())
    capped.createStandardBonds()
    modeller = Modeller(capped, unit.Quantity([Vec3(*p) for p in positions], unit.nanometer))
    modeller.addHydrogens(ForceField("amber14-all.xml"))
    return modeller.topology, torch.tensor(modeller.getPositions().value_in_unit(unit.nanometer), dtype=torch.float64)


def test_caps_move_rigidly_with_their_residue():
    topology, x = capped_chignolin()
    binding = bind_topology(topology)
    assert binding.n_residues == 8
    atoms = list(topology.atoms())
    caps = [a.index for a in atoms if a.residue.name in ("ACE", "NME")]
    assert len(caps) == 12 and set(caps) <= set(binding.rebuilt_index.tolist())
    module = export(RigidRotation(), topology)
    y = module(x[None].float(), 21)[0].double()
    expected = rotated_about_ca_centroid(x, binding, RigidRotation().rotation(21))
    torch.testing.assert_close(y, expected, rtol=0, atol=2e-6)


def test_heavy_atoms_only_topology(chignolin):
    """Nothing to rebuild: no hydrogens, no OXT."""
    topology, x, _, _ = chignolin
    modeller = Modeller(topology, x.numpy() * unit.nanometer)
    modeller.delete([a for a in modeller.topology.atoms() if a.element.symbol == "H" or a.name == "OXT"])
    heavy = torch.tensor(np.asarray(modeller.getPositions().value_in_unit(unit.nanometer)), dtype=torch.float64)
    module = export(RigidRotation(), modeller.topology)
    assert module.hydrogens.rebuilt_index.numel() == 0 and module.n_atoms == 92
    binding = bind_topology(modeller.topology)
    expected = rotated_about_ca_centroid(heavy, binding, RigidRotation().rotation(1))
    torch.testing.assert_close(module(heavy[None].float(), 1)[0].double(), expected, rtol=0, atol=2e-6)


def test_hiv_protease_dimer_without_inhibitor():
    pdb = PDBFile(str(structure_file("1hvr.pdb")))
    modeller = Modeller(pdb.topology, pdb.positions)
    modeller.delete([r for r in modeller.topology.residues() if r.name == "XK2"])
    x = torch.tensor(modeller.getPositions().value_in_unit(unit.nanometer), dtype=torch.float64)
    module = export(RigidRotation(), modeller.topology)
    binding = bind_topology(modeller.topology)
    y = module(x[None].float(), 2)[0].double()
    torch.testing.assert_close(y, rotated_about_ca_centroid(x, binding, RigidRotation().rotation(2)), rtol=0, atol=1e-5)


def test_a_saved_module_draws_the_noise_of_its_seeds_after_another_module_ran():
    # TorchScript used to fold the seeded generator into a graph constant that loading duplicated: a loaded
    # module then drew from an unseeded copy, and its jumps followed no seed once any module had drawn noise
    topology, x = load("chignolin_amber14.pdb")
    module = load_model("chignolin", topology, latent_steps=2)
    positions = torch.as_tensor(x, dtype=torch.float32)[None].repeat(2, 1, 1)
    with torch.no_grad():
        jumps = module.jump_replicas(positions, [7, 8])
        loaded = load_jump_module(jump_module_bytes(module))
        torch.testing.assert_close(loaded.jump_replicas(positions, [7, 8]), jumps, rtol=0, atol=0)
        torch.testing.assert_close(loaded.jump_replicas(positions, [7, 8]), jumps, rtol=0, atol=0)
