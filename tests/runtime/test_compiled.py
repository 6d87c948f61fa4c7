"""The jump with the network compiled by AOTInductor (``runtime.compiled``): the scripted jump's numbers in Python
and in the plugin, one package for every batch size, packages reused from the cache and carried in the saved
module; and the unscripted bound module."""
import numpy as np
import pytest
import torch
from openmm import Context, Platform, unit
from openmm.app import HBonds, ForceField, PDBFile

from openmm_equijump.runtime.export import bind_transition, export_jump_module, jump_module_bytes, load_jump_module
from openmm_equijump.runtime.compiled import check_cpu
from openmm_equijump.runtime.integrator import EquiJumpIntegrator
from openmm_equijump.runtime.load import load_model
from openmm_equijump.testing import RigidRotation

from helpers import FIXTURES, structure_file

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def test_bound_transition_runs_unscripted_as_scripted():
    pdb = PDBFile(str(structure_file("chignolin_amber14.pdb")))
    x = torch.tensor(pdb.getPositions(asNumpy=True)._value, dtype=torch.float32)[None].repeat(2, 1, 1)
    kwargs = dict(jump_ps=100.0, temperature_K=350.0)
    bound = bind_transition(RigidRotation(), pdb.topology, **kwargs)
    scripted = export_jump_module(RigidRotation(), pdb.topology, **kwargs)
    assert not isinstance(bound, torch.jit.ScriptModule)
    y = bound.jump_replicas(x, [3, 4])
    assert (y - x).abs().max() > 0.1  # the rotations moved the atoms (nm)
    torch.testing.assert_close(y, scripted.jump_replicas(x, [3, 4]), rtol=0, atol=1e-6)


def test_a_module_compiled_for_another_cpu_is_refused_by_name():
    module = torch.nn.Sequential(torch.nn.Module())
    module[0].cpu_isa = "avx9000"
    with pytest.raises(RuntimeError, match="holds a network compiled for avx9000 CPUs; this CPU is .*compiled=True"):
        check_cpu(module, "jump module file x.pt")
    check_cpu(torch.nn.Linear(2, 2), "a module without packages")


def plugin_jump(pdb: PDBFile, module, seed: int) -> np.ndarray:
    """Positions (nm) after one step of the EquiJumpIntegrator running ``module`` (its bytes) in a CPU Context."""
    system = ForceField("amber14-all.xml", "implicit/obc2.xml").createSystem(
        pdb.topology, constraints=HBonds, hydrogenMass=4 * unit.amu)
    context = Context(system, EquiJumpIntegrator(jump_module_bytes(module), seed=seed, device="cpu"),
                      Platform.getPlatformByName("CPU"), {"Threads": "1"})
    context.setPositions(pdb.positions)
    context.getIntegrator().step(1)
    return context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)


@pytest.mark.slow  # about 2 minutes of one core: exporting and compiling the conditioner and the headers
def test_compiled_jump_is_the_scripted_jump(tmp_path):
    pinned = np.load(FIXTURES / "pinned" / "jump_chignolin.npz")
    pdb = PDBFile(str(structure_file("chignolin_amber14.pdb")))
    steps = int(pinned["latent_steps"])
    compiled = load_model("chignolin", pdb.topology, latent_steps=steps, compiled=True, cache_dir=tmp_path)
    scripted = load_model("chignolin", pdb.topology, latent_steps=steps)
    x = torch.from_numpy(pinned["start"])[None]
    seeds = [int(s) for s in pinned["seeds"]]
    with torch.no_grad():
        # the plugin's seeds (seed ^ r, r = 0) one replica at a time: the pinned jumps of the scripted module
        single = np.stack([compiled(x, seed)[0].numpy() for seed in seeds])
        np.testing.assert_allclose(single, pinned["jumps"], rtol=0, atol=1e-5)  # 1e-4 A: float32 round-off
        # a batch of 3 (the batch dimension of the packages is dynamic)
        batch = x.repeat(3, 1, 1)
        y = compiled.jump_replicas(batch, seeds + [9])
        np.testing.assert_allclose(y[:2].numpy(), pinned["jumps"], rtol=0, atol=1e-5)
        torch.testing.assert_close(y, scripted.jump_replicas(batch, seeds + [9]), rtol=0, atol=1e-5)
        packages = sorted(tmp_path.glob("*.pt2"))
        assert [p.name.split("-")[0] for p in packages] == ["condition", "headers"]
        stamps = [p.stat().st_mtime_ns for p in packages]
        again = load_model("chignolin", pdb.topology, latent_steps=steps, compiled=True, cache_dir=tmp_path)
        torch.testing.assert_close(again.jump_replicas(batch, seeds + [9]), y, rtol=0, atol=0)
        assert sorted(tmp_path.glob("*.pt2")) == packages and [p.stat().st_mtime_ns for p in packages] == stamps
        # the saved module carries its packages: it runs without the cache
        for package in packages:
            package.unlink()
        loaded = load_jump_module(jump_module_bytes(compiled))
        torch.testing.assert_close(loaded.jump_replicas(batch, seeds + [9]), y, rtol=0, atol=0)
        # the packages read CPU float32 only, unchecked: the module checks
        with pytest.raises(torch.jit.Error, match="CPU with float32 positions"):
            compiled.jump_replicas(batch.double(), seeds + [9])
    # the C++ plugin runs it: one step of the integrator, as with the scripted module
    np.testing.assert_allclose(plugin_jump(pdb, compiled, 5), plugin_jump(pdb, scripted, 5), rtol=0, atol=1e-5)
