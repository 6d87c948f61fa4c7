"""Sample an ensemble with a walk-jump model and judge it against reference MD, with OpenMM MD of the same
System run beside it on the same machine at the same time (``python -m openmm_equijump.ensemble``).

The sampler's chains (``EnsembleConfig.chains`` replicas, one batch, one torch thread) and one OpenMM MD run
(CPU platform, one thread, in a second process, started from the same structure with the reference protocol of
``md.reference``) run at the same time until the sampler has made its samples; each records the CPU seconds of
its own process at every sample or frame. Then both are compared with the reference MD as ensembles
(``analysis.ensemble``: no MSM reweighting, no lag), beside the noise floor of two independent halves of the
reference, and the divergences of growing prefixes are plotted against the CPU seconds that made them.

Output folder: ``samples_<r>.dcd`` (heavy atoms, one frame per sample; the DCD's "time" counts samples),
``md.dcd`` (heavy atoms, one frame per ``md_frame_ps``), ``heavy_atoms.pdb`` (their topology; ``analyze
--ensemble`` reads them with it), ``ensemble_metrics.json``, ``divergence_vs_cpu.png`` and
``ensemble_config.yaml``.
"""
from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import torch
from openmm import unit

from ..analysis.ensemble import compare_ensembles, divergence_curve, ensemble_divergences, sample_values
from ..analysis.frames import Ensemble, ensemble_from_trajectories, load_ensemble
from ..analysis.plots import plot_divergence_curves
from ..analysis.stability import stability_report
from ..config import save_yaml
from ..errors import ConfigError
from ..md.campaign import Campaign, campaign_trajectories
from ..md.reference import MDConfig, native_obc2_system
from ..model.walk import WalkConfig
from ..runtime.export import is_stateful
from ..runtime.load import load_model
from ..runtime.replicas import iterate_replicas

CONFIG_NAME = "ensemble_config.yaml"
TOPOLOGY_NAME = "heavy_atoms.pdb"  # the topology of samples_<r>.dcd and md.dcd


@dataclass
class EnsembleConfig:
    """One ensemble run (saved as ``ensemble_config.yaml``).

    model: a walk-jump model (shipped name, run folder or checkpoint). pdb: start structure, all atoms.
    native: native structure (C-alphas used). reference_topology, reference: reference MD files; and/or
    campaign (a campaign file) whose ``protein`` replicas, after its burn-in, join the reference.
    chains: replicas; samples: integrator steps per chain (each ``walk.walk_steps`` walk steps); seed: chain r
    uses seed + r. md: run OpenMM MD beside the sampler; md_frame_ps: its frame interval.
    """

    model: str
    pdb: str
    native: str
    out: str
    reference_topology: Optional[str] = None
    reference: list[str] = field(default_factory=list)
    campaign: Optional[str] = None
    protein: str = "chignolin"
    chains: int = 20
    samples: int = 2000
    walk: WalkConfig = field(default_factory=lambda: WalkConfig(walk_steps=10))
    seed: int = 1
    md: bool = True
    md_frame_ps: float = 10.0
    n_bins: int = 30

    def __post_init__(self) -> None:
        if self.chains < 1 or self.samples < 10:
            raise ConfigError(f"EnsembleConfig needs chains >= 1 and samples >= 10, got {self.chains}, {self.samples}")
        if not self.reference and not self.campaign:
            raise ConfigError("no reference MD: give reference_topology and reference files, and/or a campaign")
        if self.reference and not self.reference_topology:
            raise ConfigError("reference files need reference_topology (the topology they were written with)")


def reference_ensemble(native: mdtraj.Trajectory, reference_topology: Optional[str], reference: list[str],
                       campaign: Optional[str], protein: str) -> Ensemble:
    """The reference MD: the ``reference`` files (of ``reference_topology``) and the replicas of ``protein`` in
    the ``campaign`` file after its burn-in, on the native's heavy atoms."""
    parts = []
    if reference:
        parts.append(load_ensemble(reference, reference_topology, native.topology, None, "reference"))
    if campaign:
        loaded = Campaign.load(campaign)
        trajectories = campaign_trajectories(loaded, protein)
        parts.append(ensemble_from_trajectories(trajectories, native.topology, loaded.frame_ps,
                                                [f"campaign {protein} {i}" for i in range(len(trajectories))],
                                                "reference"))
    intervals = {part.frame_ps for part in parts}
    return Ensemble([t for p in parts for t in p.trajectories], min(intervals), [s for p in parts for s in p.sources])


def run_md(pdb: str, temperature_K: float, frame_ps: float, seed: int, out: str, stop, ready) -> None:
    """OpenMM MD (reference protocol, CPU platform, one thread) from ``pdb`` until ``stop`` is set: heavy-atom
    frames every ``frame_ps`` to ``out``.npz with the process's CPU seconds at each."""
    structure = app.PDBFile(pdb)
    protocol = MDConfig(pdb=pdb, temperature_K=temperature_K, frame_ps=frame_ps)
    integrator = openmm.LangevinMiddleIntegrator(temperature_K * unit.kelvin, protocol.friction_per_ps / unit.picosecond,
                                                 protocol.timestep_fs * unit.femtosecond)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(native_obc2_system(structure.topology, protocol.hydrogen_mass_amu), integrator,
                             openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    context.setPositions(structure.positions)
    context.setVelocitiesToTemperature(temperature_K * unit.kelvin, seed)
    heavy = [a.index for a in structure.topology.atoms() if a.element is not None and a.element.symbol != "H"]
    frames, cpu = [], []
    ready.set()
    started = time.process_time()
    while not stop.is_set():
        integrator.step(protocol.steps_per_frame)
        positions = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        frames.append(np.asarray(positions)[heavy])
        cpu.append(time.process_time() - started)
    np.savez(out, xyz=np.asarray(frames, dtype=np.float32), cpu_seconds=np.asarray(cpu))


def walk_jump_module(config: EnsembleConfig, structure: app.PDBFile) -> torch.jit.ScriptModule:
    """The model's walk-jump chain bound to the structure; refuses a model that is not a walk-jump model."""
    module = load_model(config.model, structure.topology, walk=config.walk)
    if not is_stateful(module):
        raise ConfigError(f"model {config.model!r} is not a walk-jump model (train it with --method walk-jump)")
    return module


def sample_chains(module: torch.jit.ScriptModule, structure: app.PDBFile, chains: int, samples: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames (samples, chains, n_atoms, 3) nm, CPU seconds of this process (samples,) at each step of all
    chains), on one torch thread."""
    start = np.asarray(structure.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float32)
    torch.set_num_threads(1)
    frames, cpu = [], []
    started = time.process_time()
    for positions in iterate_replicas(module, np.stack([start] * chains), samples, seed, progress=True):
        frames.append(positions)
        cpu.append(time.process_time() - started)
    return np.stack(frames), np.asarray(cpu)


def run_ensemble(config: EnsembleConfig) -> dict:
    """Sample, run MD beside, compare, plot; returns what ``ensemble_metrics.json`` holds."""
    out = Path(config.out)
    native = mdtraj.load(config.native)
    # read first: bad input fails before any work
    reference = reference_ensemble(native, config.reference_topology, config.reference, config.campaign,
                                   config.protein)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / CONFIG_NAME)
    structure = app.PDBFile(config.pdb)
    top = mdtraj.Topology.from_openmm(structure.topology)
    module = walk_jump_module(config, structure)

    md_proc = None
    if config.md:
        context = multiprocessing.get_context("spawn")
        stop, ready = context.Event(), context.Event()
        md_proc = context.Process(target=run_md, args=(config.pdb, module.temperature_K, config.md_frame_ps, config.seed,
                                                       str(out / "md_frames"), stop, ready))
        md_proc.start()
        ready.wait()
    frames, cpu_seconds = sample_chains(module, structure, config.chains, config.samples, config.seed)
    if md_proc is not None:
        stop.set()
        md_proc.join()

    heavy = top.select("not element H")
    heavy_top = top.subset(heavy)
    chains = [mdtraj.Trajectory(frames[:, r][:, heavy], heavy_top) for r in range(config.chains)]
    chains[0][0].save_pdb(str(out / TOPOLOGY_NAME))
    for r, chain in enumerate(chains):
        chain.save_dcd(str(out / f"samples_{r}.dcd"))
    stability = [stability_report(chain) for chain in chains]
    # in the order they were made: sample k of every chain before sample k + 1 of any
    in_order = ensemble_from_trajectories(
        [mdtraj.Trajectory(frames[:, :, heavy].reshape(-1, len(heavy), 3), heavy_top)], native.topology, 1.0)
    comparison = compare_ensembles(reference, ensemble_from_trajectories(chains, native.topology, 1.0).trajectories,
                                   native)
    samples = sample_values(in_order.trajectories, comparison.fit)
    per_sample_cpu = np.repeat(cpu_seconds, config.chains)  # a step of the batch makes one sample per chain
    curves = {"walk-jump": divergence_curve(comparison.reference_values, samples, per_sample_cpu, config.n_bins)}
    result = {"config": str(out / CONFIG_NAME), "walk": dict(module.settings), "chains": config.chains,
              "samples_per_chain": config.samples, "walk_steps_per_chain": config.samples * config.walk.walk_steps,
              "sampler_cpu_seconds": float(cpu_seconds[-1]), "stability": stability,
              "sound_chains": sum(s["first_bad_frame"] is None for s in stability),
              "walk_jump": comparison.to_dict()}
    if md_proc is not None:
        md_run = np.load(out / "md_frames.npz")
        (out / "md_frames.npz").unlink()
        md_traj = mdtraj.Trajectory(md_run["xyz"], heavy_top)
        md_traj.save_dcd(str(out / "md.dcd"))
        md_values = sample_values(ensemble_from_trajectories([md_traj], native.topology, config.md_frame_ps).trajectories,
                                  comparison.fit)
        curves["OpenMM MD"] = divergence_curve(comparison.reference_values, md_values, md_run["cpu_seconds"],
                                               config.n_bins)
        result["md"] = {"frames": int(md_traj.n_frames), "ns": md_traj.n_frames * config.md_frame_ps / 1000.0,
                        "cpu_seconds": float(md_run["cpu_seconds"][-1]),
                        "divergences": ensemble_divergences(comparison.reference_values, md_values, config.n_bins)}
    result["curves"] = curves
    plot_divergence_curves(curves, comparison.noise_floor, out / "divergence_vs_cpu.png")
    (out / "ensemble_metrics.json").write_text(json.dumps(result, indent=1))
    return result
