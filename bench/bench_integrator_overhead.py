"""Overhead of the integrator itself per jump: the C++ route vs calling the same jump module from Python.

C++ route: ``EquiJumpIntegrator.step(1)`` (positions out of the Context, module call through libtorch, checks,
positions back, velocities drawn, time and step count advanced, all in the plugin).
Python route: the same work written in Python around the same scripted module: ``getState(positions)`` ->
float32 tensor -> module -> ``setPositions`` -> ``setVelocitiesToTemperature`` -> ``setTime``/``setStepCount``.

The module is deliberately cheap (a seed-dependent shift of every atom, with the contract attributes of the real
topology), so the numbers are the routes' own cost; "module" is the bare module call. Systems: chignolin
(166 atoms) and a bare System (masses only) of many copies of it (~100k particles). The two routes alternate in
rounds and the medians are compared, side by side in one run, on the CPU platform.

    OMP_NUM_THREADS=1 python bench/bench_integrator_overhead.py [--copies 603] [--jumps 20] [--rounds 5]
        [--first-jump-latent-steps 20]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import openmm
import torch
from openmm import unit
from openmm.app import PDBFile, Topology

from openmm_equijump.runtime.export import jump_module_bytes
from openmm_equijump.runtime.integrator import EquiJumpIntegrator
from openmm_equijump.protein.topology import bind_topology

CHIGNOLIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "md" / "chignolin_amber14.pdb"


class ShiftJump(torch.nn.Module):
    """A jump-module-contract module whose jump is a shift of +-1e-4 nm (sign from the seed)."""

    def __init__(self, topology: Topology, temperature_K: float = 300.0):
        super().__init__()
        binding = bind_topology(topology)
        self.format_version = 1
        self.jump_ps = 100.0
        self.n_atoms = int(binding.n_atoms)
        self.temperature_K = float(temperature_K)
        self.register_buffer("atomic_numbers", torch.as_tensor(binding.atomic_numbers, dtype=torch.int64))
        self.register_buffer("group_index", torch.as_tensor(binding.group_index, dtype=torch.int64))
        self.register_buffer("expected_group_mass", torch.as_tensor(binding.expected_group_mass, dtype=torch.float64))

    def forward(self, positions: torch.Tensor, seed: int) -> torch.Tensor:
        return positions + (1e-4 if seed % 2 == 0 else -1e-4)


def replicate(pdb: PDBFile, copies: int) -> tuple[Topology, np.ndarray]:
    """A topology of ``copies`` chains of the protein on a 3 nm grid, and its positions (nm)."""
    topology = Topology()
    base = np.array(pdb.positions.value_in_unit(unit.nanometer))
    side = int(np.ceil(copies ** (1 / 3)))
    positions = []
    for copy in range(copies):
        atom_map = {}
        chain = topology.addChain()
        for residue in pdb.topology.residues():
            new_residue = topology.addResidue(residue.name, chain, residue.id)
            for atom in residue.atoms():
                atom_map[atom] = topology.addAtom(atom.name, atom.element, new_residue)
        for a, b in pdb.topology.bonds():
            topology.addBond(atom_map[a], atom_map[b])
        offset = 3.0 * np.array([copy % side, (copy // side) % side, copy // side ** 2])
        positions.append(base + offset)
    return topology, np.concatenate(positions)


def bare_system(topology: Topology) -> openmm.System:
    system = openmm.System()
    for atom in topology.atoms():
        system.addParticle(atom.element.mass)
    return system


def cpu_platform():
    return openmm.Platform.getPlatformByName("CPU"), {"Threads": str(torch.get_num_threads())}


def time_per_jump(action, jumps: int) -> float:
    start = time.perf_counter()
    for _ in range(jumps):
        action()
    return (time.perf_counter() - start) / jumps


def measure(name: str, topology: Topology, positions: np.ndarray, jumps: int, rounds: int) -> None:
    system = bare_system(topology)
    scripted = torch.jit.script(ShiftJump(topology))
    platform, properties = cpu_platform()

    start = time.perf_counter()
    integrator = EquiJumpIntegrator(jump_module_bytes(scripted), seed=1, device="cpu")
    cpp = openmm.Context(system, integrator, platform, properties)
    cpp.setPositions(positions)
    integrator.step(1)
    cpp_first = time.perf_counter() - start

    python = openmm.Context(system, openmm.VerletIntegrator(1.0), platform, properties)
    python.setPositions(positions)
    temperature = 300.0 * unit.kelvin

    def python_jump():
        state = python.getState(getPositions=True)
        x = torch.from_numpy(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)).to(torch.float32)
        step = python.getStepCount()
        with torch.no_grad():
            y = scripted(x.unsqueeze(0), int(step) + 1)
        if not bool(torch.isfinite(y).all()):
            raise RuntimeError("non-finite jump")
        python.setPositions(y[0].double().numpy())
        python.setVelocitiesToTemperature(temperature, int(step) + 1)
        python.setTime(state.getTime() + 100.0 * unit.picosecond)
        python.setStepCount(step + 1)

    x = torch.from_numpy(positions).to(torch.float32).unsqueeze(0)

    def module_call():
        with torch.no_grad():
            scripted(x, 3)

    start = time.perf_counter()
    python_jump()
    python_first = time.perf_counter() - start

    cpp_times, python_times, module_times = [], [], []
    for _ in range(rounds):
        cpp_times.append(time_per_jump(lambda: integrator.step(1), jumps))
        python_times.append(time_per_jump(python_jump, jumps))
        module_times.append(time_per_jump(module_call, jumps))
    cpp_jump, python_jump_time, module = (statistics.median(t) for t in (cpp_times, python_times, module_times))
    print(f"{name}: {system.getNumParticles()} particles, {jumps} jumps x {rounds} rounds, CPU platform, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"  per jump    C++ route {cpp_jump * 1e3:9.3f} ms   Python route {python_jump_time * 1e3:9.3f} ms   "
          f"module alone {module * 1e3:9.3f} ms")
    print(f"  Python / C++ per jump: {python_jump_time / cpp_jump:6.2f}x")
    cpp_overhead, python_overhead = cpp_jump - module, python_jump_time - module
    if cpp_overhead > 0.1 * cpp_jump:  # otherwise the difference is within timing noise
        print(f"  overhead beyond the module, Python / C++: {python_overhead / cpp_overhead:6.2f}x")
    print(f"  first jump (Context creation + module load + jump), C++ route: {cpp_first * 1e3:.1f} ms; "
          f"first Python-route jump: {python_first * 1e3:.1f} ms")


def first_jumps(pdb: PDBFile, latent_steps: int, hidden: int, calls: int = 3) -> None:
    """Latency of the first calls of an (untrained) e3nn jump module: C++ route vs a Python call.

    TorchScript's profiling executor specializes a scripted e3nn jump during its first calls; the plugin runs
    the module with graph optimization off, a Python call uses torch's default. The C++ route runs first, so
    any cache it warms favours the Python route.
    """
    import e3nn.util.jit

    from openmm_equijump.runtime.export import export_jump_module, load_jump_module
    from openmm_equijump.model.network import EquiJumpModel, ModelConfig
    from openmm_equijump.model.sampler import JumpSampler, SamplerConfig

    torch.manual_seed(0)
    sampler = JumpSampler(EquiJumpModel(ModelConfig(H=hidden)), SamplerConfig(latent_steps=latent_steps))
    module = export_jump_module(e3nn.util.jit.script(sampler, in_place=False), pdb.topology, jump_ps=100.0,
                                temperature_K=300.0)
    data = jump_module_bytes(module)
    positions = np.array(pdb.positions.value_in_unit(unit.nanometer))

    start = time.perf_counter()
    integrator = EquiJumpIntegrator(data, seed=1, device="cpu")
    platform, properties = cpu_platform()
    context = openmm.Context(bare_system(pdb.topology), integrator, platform, properties)
    context.setPositions(positions)
    cpp = [time.perf_counter() - start]
    for _ in range(calls):
        start = time.perf_counter()
        integrator.step(1)
        cpp.append(time.perf_counter() - start)

    start = time.perf_counter()
    loaded = load_jump_module(data)
    python = [time.perf_counter() - start]
    x = torch.from_numpy(positions).to(torch.float32).unsqueeze(0)
    for call in range(calls):
        start = time.perf_counter()
        with torch.no_grad():
            loaded(x, call + 1)
        python.append(time.perf_counter() - start)
    print(f"{pdb.topology.getNumResidues()} residues, untrained e3nn jump (H={hidden}, {latent_steps} latent "
          f"steps): seconds for load, then calls 1..{calls}")
    print("  C++ route (Context creation, jumps): " + "  ".join(f"{t:7.2f}" for t in cpp))
    print("  Python call (torch.jit.load, calls): " + "  ".join(f"{t:7.2f}" for t in python))
    print(f"  first {calls} jumps, Python / C++: {sum(python) / sum(cpp):6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdb", type=Path, default=CHIGNOLIN, help="protein to replicate (default chignolin)")
    parser.add_argument("--copies", type=int, default=603, help="copies in the large System (603 x 166 ~ 100k)")
    parser.add_argument("--jumps", type=int, default=20, help="jumps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per route")
    parser.add_argument("--first-jump-latent-steps", type=int, default=0,
                        help="also time the first jumps of an untrained e3nn jump with this many latent steps "
                             "(0: skip; scripting it takes about a minute)")
    parser.add_argument("--first-jump-hidden", type=int, default=16, help="H of that e3nn jump")
    args = parser.parse_args()
    pdb = PDBFile(str(args.pdb))
    measure(args.pdb.stem, pdb.topology, np.array(pdb.positions.value_in_unit(unit.nanometer)),
            args.jumps * 10, args.rounds)
    topology, positions = replicate(pdb, args.copies)
    measure(f"{args.copies} x {args.pdb.stem}", topology, positions, args.jumps, args.rounds)
    if args.first_jump_latent_steps > 0:
        first_jumps(pdb, args.first_jump_latent_steps, args.first_jump_hidden)


if __name__ == "__main__":
    main()
