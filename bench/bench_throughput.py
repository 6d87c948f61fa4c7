"""EquiJump throughput with replicas in one model call, next to OpenMM MD of the same protein, side by side.

    OMP_NUM_THREADS=1 python bench/bench_throughput.py [--batch-sizes 1 8 32] [--latent-steps 100 30]
        [--hidden 16 32 | --model chignolin] [--device cpu] [--threads 1] [--md-seconds 3] [--max-jump-s 30]

For chignolin (10 residues) and alpha3D (73 residues) from the development data (README, "Tests"), in one run:
- OpenMM MD ns/day on ``--threads`` CPU threads (or ``--md-platform``): implicit solvent as ``md.reference`` sets it
  up (``md.md_ns_per_day``: amber14 + OBC2 as the native GBSAOBCForce, no cutoff, HBonds, hydrogen mass 4 amu,
  4 fs) and, for reference, explicit TIP3P (amber14 + tip3p, 1 nm padding, neutralizing ions, PME with 1 nm
  cutoff, HBonds, hydrogen mass 4 amu, 4 fs, LangevinMiddle), both from a briefly minimized start.
- EquiJump: the jump module's ``jump_replicas`` on B replicas (the call ``replicas.iterate_replicas`` makes
  once per jump, host copy of the result included), graph-executor optimization off as the plugin runs it,
  the best of ``--repeats`` jumps after one untimed warm-up jump per module. Simulated ns/day summed over the
  B replicas = B x jump interval per jump.
  The network: a trained model (``--model``: its own H, bound to each protein) or untrained weights of the
  paper's depth (conditioner 6, headers 4 blocks) for each ``--hidden`` H; speed does not depend on training.
- Acceleration = EquiJump ns/day / MD ns/day, printed with batch size B and latent steps K on every row.

A batch whose jump would take longer than ``--max-jump-s`` (estimated from the next smaller batch, scaled by
B) is skipped and says so. Best-of timings because the machines are shared; compare rows of one run only.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Optional

import numpy as np
import openmm.app as app
import openmm.unit as unit
import torch

from openmm_equijump.runtime.export import export_jump_module
from openmm_equijump.md.reference import md_ns_per_day, system_ns_per_day
from openmm_equijump.model.network import EquiJumpModel, ModelConfig
from openmm_equijump.runtime.load import load_model, load_trained
from openmm_equijump.model.sampler import JumpSampler, SamplerConfig

STRUCTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "structures"
PROTEINS = {"chignolin": "chignolin_amber14.pdb", "alpha3D": "a3d_amber14.pdb"}
TEMPERATURE_K = 350.0
JUMP_PS = 100.0
#: Steps between the reads of positions that make the explicit-solvent timing loop wait for the platform.
EXPLICIT_CHUNK = 20


def explicit_md_ns_per_day(topology: app.Topology, positions, *, platform: str, threads: int,
                           seconds: float) -> tuple[float, int]:
    """(ns/day, atoms) of OpenMM MD of the protein in a TIP3P box (module docstring), timed for ``seconds``."""
    forcefield = app.ForceField("amber14-all.xml", "amber14/tip3p.xml")
    modeller = app.Modeller(topology, positions)
    modeller.addSolvent(forcefield, model="tip3p", padding=1.0 * unit.nanometer)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.PME,
                                     nonbondedCutoff=1.0 * unit.nanometer, constraints=app.HBonds,
                                     hydrogenMass=4.0 * unit.amu)
    ns_per_day = system_ns_per_day(system, modeller.positions, platform=platform, threads=threads, seconds=seconds,
                                   temperature=TEMPERATURE_K, chunk_steps=EXPLICIT_CHUNK)
    return ns_per_day, system.getNumParticles()


def jump_module(model: Optional[str], H: int, latent_steps: int, topology: app.Topology) -> torch.jit.ScriptModule:
    """The jump module of the trained ``model``, or (None) of an untrained network of the paper's depth at H."""
    if model:
        return load_model(model, topology, latent_steps=latent_steps)
    torch.manual_seed(0)
    model = EquiJumpModel(ModelConfig(H=H)).eval()
    with torch.no_grad():
        transition = JumpSampler(model, SamplerConfig(latent_steps=latent_steps))
        return export_jump_module(transition, topology, jump_ps=JUMP_PS, temperature_K=TEMPERATURE_K,
                                  settings=transition.settings())


def best_jump_seconds(module: torch.jit.ScriptModule, start_nm: np.ndarray, batch: int, device: str,
                      repeats: int) -> float:
    """Best of ``repeats`` wall seconds of one batched jump of ``batch`` replicas from ``start_nm``."""
    x = torch.as_tensor(np.repeat(start_nm[None], batch, axis=0), device=device)
    seeds = list(range(1, batch + 1))
    best = float("inf")
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for _ in range(repeats):
            started = time.perf_counter()
            module.jump_replicas(x, seeds).cpu()
            best = min(best, time.perf_counter() - started)
    return best


def equijump_rows(name: str, topology: app.Topology, H: int, start_nm: np.ndarray, md: dict, args) -> None:
    """Print one row per (latent steps, batch size) of one network on one protein."""
    for K in args.latent_steps:
        module = jump_module(args.model, H, K, topology).to(args.device)
        best_jump_seconds(module, start_nm, 1, args.device, 1)  # warm-up, untimed: what a first call pays once
        measured: Optional[tuple[int, float]] = None  # (batch, s per jump) of the last batch measured
        for B in sorted(args.batch_sizes):
            label = f"{name:>10} {H:>3} {K:>4} {B:>4}"
            if measured is not None and measured[1] * B / measured[0] > args.max_jump_s:
                print(f"{label}   skipped: ~{measured[1] * B / measured[0]:.0f} s per jump estimated from batch "
                      f"{measured[0]} (> --max-jump-s {args.max_jump_s:g})", flush=True)
                continue
            seconds = best_jump_seconds(module, start_nm, B, args.device, args.repeats)
            measured = (B, seconds)
            ns_per_day = B * float(module.jump_ps) / 1000.0 / seconds * 86400.0
            print(f"{label} {seconds:>9.3f} {ns_per_day:>12.0f} {ns_per_day / md['implicit']:>11.1f} x "
                  f"{ns_per_day / md['explicit']:>11.1f} x", flush=True)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32], help="replicas per model call B")
    parser.add_argument("--latent-steps", type=int, nargs="+", default=[100], help="sampler steps per jump K")
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 32],
                        help="multiplicities H of untrained networks (ignored with --model)")
    parser.add_argument("--model", help="a trained model (shipped name, run folder or checkpoint) instead")
    parser.add_argument("--device", default="cpu", help="device of the jump module: cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads and OpenMM CPU threads")
    parser.add_argument("--md-platform", default="CPU", help="OpenMM platform of the MD yardsticks")
    parser.add_argument("--md-seconds", type=float, default=3.0, help="wall seconds each MD yardstick is timed")
    parser.add_argument("--repeats", type=int, default=2, help="jumps timed per configuration (best is kept)")
    parser.add_argument("--max-jump-s", type=float, default=30.0,
                        help="skip a batch whose jump is estimated to take longer (seconds)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model:
        hidden = [load_trained(args.model).model_config.H]
    else:
        hidden = args.hidden
    print(f"jump module on {args.device}, torch {args.threads} thread(s); OpenMM MD on {args.md_platform} "
          f"({args.threads} thread(s) on CPU), {TEMPERATURE_K:g} K; network: "
          + (f"trained model {args.model} (H={hidden[0]})" if args.model else "untrained, paper depth"))
    for name, file in PROTEINS.items():
        pdb = app.PDBFile(str(STRUCTURES / file))
        residues = pdb.topology.getNumResidues()
        md = {"implicit": md_ns_per_day(pdb.topology, pdb.positions, platform=args.md_platform,
                                        threads=args.threads, seconds=args.md_seconds, temperature=TEMPERATURE_K)}
        md["explicit"], solvated_atoms = explicit_md_ns_per_day(pdb.topology, pdb.positions, platform=args.md_platform,
                                                                threads=args.threads, seconds=args.md_seconds)
        print(f"\n{name}: {residues} residues, {pdb.topology.getNumAtoms()} atoms. OpenMM MD: implicit OBC2 "
              f"{md['implicit']:.0f} ns/day; explicit TIP3P ({solvated_atoms} atoms) {md['explicit']:.1f} ns/day")
        print(f"{'protein':>10} {'H':>3} {'K':>4} {'B':>4} {'s / jump':>9} {'ns/day (sum)':>12} "
              f"{'/ implicit':>13} {'/ explicit':>13}")
        start_nm = np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)
        for H in hidden:
            equijump_rows(name, pdb.topology, H, start_nm, md, args)


if __name__ == "__main__":
    main()
