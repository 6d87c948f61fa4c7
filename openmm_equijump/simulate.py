"""Run EquiJump through ``openmm.app.Simulation``: ``python -m openmm_equijump.simulate``.

With no argument it simulates the shipped chignolin structure with the shipped ``chignolin`` model, measures
OpenMM MD of the same System in the same run, and compares the jumps with the reference MD that ships with
the model:

    python -m openmm_equijump.simulate
    python -m openmm_equijump.simulate --pdb protein.pdb --model runs/mine --jumps 500 --replicas 4 --out runs/ej

Replica r starts from the structure's positions and is the trajectory of an ``EquiJumpIntegrator`` seeded
``seed + r`` on the System of ``md.native_obc2_system`` (amber14 + OBC2 as the native GBSAOBCForce, HBonds,
hydrogen mass 4 amu -- the System the MD yardstick runs). How the replicas are run is ``--batch-size B``
(default: all replicas in one batch):

- B > 1: B replicas at a time through ``replicas.iterate_replicas``, one call of the jump module per jump
  for the whole batch (on ``--device``). Each replica's jumps use its own seed, so replica r is the
  trajectory the integrator seeded ``seed + r`` would make, to float32 round-off (``replicas``).
- B = 1 (and a single replica): each replica is an ``openmm.app.Simulation`` with the ``EquiJumpIntegrator``
  (the C++ plugin) and DCD / StateData reporters, one after the other.

Output folder (a new run replaces the files an earlier one wrote there): ``topology.pdb`` (the structure
simulated), ``replica_<r>.dcd`` (one frame per jump; its header carries the jump interval), ``replica_<r>.csv``
(as StateDataReporter writes it: step, time, potential energy, speed, and with B = 1 the temperature of the
velocities the integrator draws after each jump; a batched replica has no velocities, so no temperature
column, and its potential energies come from one Context shared by all replicas),
``simulate_config.yaml``, ``summary.json`` and, when the model ships reference MD of this protein
(``pretrained/<name>/reference/``), ``analysis/``: the TIC1 x TIC2 free-energy surface of the jumps against
that reference, the other figures of ``python -m openmm_equijump.analyze`` and its ``metrics.json``.

Speed is reported the way DESIGN.md asks: EquiJump's simulated ns/day over OpenMM MD's ns/day of the same
System, measured side by side in this run, with the batch size and the latent steps beside the ratio;
EquiJump's rate is summed over the replicas (a batch of B advances B x jump interval per call). Both include
writing the files and the potential energies. The steady-state rate leaves out each batch's first jump, whose
latency (TorchScript loading and warm-up) is reported on its own.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import torch
import yaml
from tqdm import tqdm

from .analysis import AnalysisSettings, AtomMatchError, compare_dynamics, load_ensemble
from .analysis.plots import write_figures
from .analysis.report import summary_table, write_metrics
from .analysis.stability import stability_report
from .integrator import EquiJumpIntegrator, JumpModuleError
from .md import md_ns_per_day, native_obc2_system
from .models import PRETRAINED_DIR, REFERENCE_DIR, REFERENCE_TOPOLOGY, load_model, reference_md
from .prepare import prepare_structure
from .replicas import iterate_replicas
from .topology import TopologyError

#: Jumps per replica of the default run. Tune to the shipped model's jump latency so that the default run
#: (jumps, MD yardstick and analysis) takes a few minutes on two CPU cores.
DEFAULT_JUMPS = 50
DEFAULT_MODEL = "chignolin"
DEFAULT_PDB = PRETRAINED_DIR / "chignolin" / "structure.pdb"
DEFAULT_OUT = "equijump_chignolin"
#: The progress bar is refreshed after chunks of jumps that take about this long (at least one jump each).
CHUNK_SECONDS = 1.0
#: Fewer generated frames than this (over all replicas) cannot carry the TICA/MSM comparison.
MIN_ANALYSIS_FRAMES = 20
#: Where a model's reference MD ships: <model folder>/reference/ with heavy_atoms.pdb and trajectories.


class SimulateError(ValueError):
    """A run that cannot start: a missing structure, a System the force field cannot build, bad settings."""


@dataclass
class SimulateConfig:
    """Settings of one ``simulate`` run; saved as ``simulate_config.yaml`` in the output folder.

    pdb: structure (PDB or PDBx/mmCIF), simulation-ready unless ``prepare``. model: a shipped model name, a
    training run folder or a checkpoint. jumps: per replica. batch_size: replicas per call of the jump module
    (None: all of them; 1: one ``Simulation`` per replica, see the module docstring). latent_steps: sampler
    steps per jump (None: the sampler's default). seed: replica r uses seed + r (>= 1: 0 would make the
    integrator pick a random one). temperature: K of the velocities drawn after each jump (by the integrator,
    batch size 1) and of the MD yardstick (None: the model's).
    platform: OpenMM platform of the Simulations and the MD yardstick ("auto": CUDA when OpenMM has it, else
    CPU). device: where the jump module runs ("auto", "cpu", "cuda", ...). md_seconds: how long the MD
    yardstick runs. compare: measure the MD yardstick and analyse against the model's reference MD.
    prepare: make the structure simulation-ready first (PDBFixer: hydrogens, missing atoms; see prepare.py).
    """

    pdb: str = str(DEFAULT_PDB)
    model: str = DEFAULT_MODEL
    jumps: int = DEFAULT_JUMPS
    replicas: int = 1
    batch_size: Optional[int] = None
    out: str = DEFAULT_OUT
    latent_steps: Optional[int] = None
    seed: int = 1
    temperature: Optional[float] = None
    platform: str = "auto"
    device: str = "auto"
    md_seconds: float = 10.0
    compare: bool = True
    prepare: bool = False

    def __post_init__(self) -> None:
        for name in ("jumps", "replicas"):
            if getattr(self, name) < 1:
                raise SimulateError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("batch_size", "latent_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SimulateError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 1:
            raise SimulateError(f"seed must be >= 1 (replica r uses seed + r; the integrator reads 0 as "
                                f"'random'), got {self.seed}")
        if self.md_seconds <= 0:
            raise SimulateError(f"md_seconds must be > 0, got {self.md_seconds}")

    @property
    def batches(self) -> list[list[int]]:
        """The replica indices of each batch, in the order they run."""
        size = min(self.batch_size or self.replicas, self.replicas)
        return [list(range(first, min(first + size, self.replicas))) for first in range(0, self.replicas, size)]


def resolve_platform(name: str) -> str:
    """An OpenMM platform name; "auto" is CUDA when this OpenMM has it, else CPU."""
    available = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if name == "auto":
        return "CUDA" if "CUDA" in available else "CPU"
    if name not in available:
        raise SimulateError(f"OpenMM platform {name!r} is not available here; choose one of {available}")
    return name


def read_structure(config: SimulateConfig) -> tuple[app.Topology, list]:
    """(topology, positions) of the structure to simulate, prepared by PDBFixer when asked."""
    path = Path(config.pdb)
    if not path.is_file():
        raise SimulateError(f"structure file {path} does not exist")
    if config.prepare:
        prepared = prepare_structure(path)
        for change in prepared.changes:
            print(f"prepare: {change}", file=sys.stderr)
        return prepared.topology, prepared.positions
    reader = app.PDBxFile if path.suffix.lower() in (".cif", ".mmcif", ".pdbx") else app.PDBFile
    structure = reader(str(path))
    return structure.topology, structure.positions


def build_system(topology: app.Topology, pdb: str) -> openmm.System:
    """The System of the MD yardstick (md.native_obc2_system), or a SimulateError that suggests --prepare."""
    try:
        return native_obc2_system(topology)
    except ValueError as error:  # amber14 has no template: hydrogens or heavy atoms missing, unknown residue
        raise SimulateError(f"{pdb}: amber14 + OBC2 cannot build a System for this structure ({error}); "
                            "pass --prepare to add hydrogens and missing atoms with PDBFixer, or give a "
                            "simulation-ready structure") from error


def jump_device(device: str) -> str:
    """The device the jump module runs on: "auto" resolved as the plugin resolves it (libtorch sees a GPU)."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def run_replica(index: int, config: SimulateConfig, topology: app.Topology, positions, system: openmm.System,
                jump_module, platform: str, out: Path, bar: tqdm) -> dict:
    """Jump one replica ``config.jumps`` times in an ``openmm.app.Simulation`` with reporters attached.

    Returns the record of this batch of one: timings (s) of the setup (System, Context, the plugin reading the
    module), the first jump and all jumps including the first, and per replica the jumps done and the jump
    at which it blew up (None if it did not)."""
    setup = time.perf_counter()
    integrator = EquiJumpIntegrator(jump_module, temperature=config.temperature, seed=config.seed + index,
                                    device=config.device)
    simulation = app.Simulation(topology, system, integrator,
                                openmm.Platform.getPlatformByName(platform))
    simulation.context.setPositions(positions)
    simulation.reporters.append(app.DCDReporter(str(out / f"replica_{index}.dcd"), 1))
    simulation.reporters.append(app.StateDataReporter(
        str(out / f"replica_{index}.csv"), 1, step=True, time=True, potentialEnergy=True, temperature=True,
        speed=True))
    setup_s = time.perf_counter() - setup
    start = time.perf_counter()
    done, chunk, first_jump_s, blown_up_at = 0, 1, None, None
    while done < config.jumps:
        chunk = min(chunk, config.jumps - done)
        started = time.perf_counter()
        try:
            simulation.step(chunk)
        except openmm.OpenMMException as error:
            if "non-finite" not in str(error):
                raise
            # The failed jump left the Context as it was: the replica stops here, its frames so far are kept.
            blown_up_at = simulation.currentStep
            bar.update(config.jumps - done)
            report_blow_up(index, blown_up_at)
            break
        if first_jump_s is None:
            first_jump_s = time.perf_counter() - started
        done += chunk
        bar.update(chunk)
        per_jump = (time.perf_counter() - started) / chunk
        chunk = max(1, int(CHUNK_SECONDS / max(per_jump, 1e-6)))
    return {"setup_s": setup_s, "first_jump_s": first_jump_s or 0.0,
            "jumps_s": time.perf_counter() - start, "jumps_done": [simulation.currentStep],
            "blown_up_at_jump": [blown_up_at]}


def report_blow_up(index: int, jumps_done: int) -> None:
    print(f"replica {index}: the model blew up at jump {jumps_done + 1} (non-finite positions); "
          f"its {jumps_done} jumps so far are kept", file=sys.stderr)


#: The columns of a batched replica's CSV log: StateDataReporter's, without the temperature (no velocities).
BATCH_LOG_COLUMNS = ("Step", "Time (ps)", "Potential Energy (kJ/mole)", "Speed (ns/day)")


def run_batch(indices: list[int], config: SimulateConfig, topology: app.Topology, positions,
              energy_context: openmm.Context, jump_module, out: Path, bar: tqdm) -> dict:
    """Jump the replicas ``indices`` together ``config.jumps`` times, one call of the jump module per jump
    (``replicas.iterate_replicas``), and write each replica's DCD and CSV as ``run_replica``'s reporters do.

    energy_context: a Context of the System, shared by all replicas, that evaluates the potential energy of
    each frame. Returns the batch's record (see ``run_replica``); setup is opening the files."""
    setup = time.perf_counter()
    jump_ps = float(jump_module.jump_ps)
    start_nm = np.asarray(positions.value_in_unit(unit.nanometer), dtype=np.float32)
    jumps_done = [0] * len(indices)
    blown_up_at: list[Optional[int]] = [None] * len(indices)
    with ExitStack() as files:
        dcds, logs = [], []
        for r in indices:
            handle = files.enter_context(open(out / f"replica_{r}.dcd", "wb"))
            dcds.append(app.DCDFile(handle, topology, jump_ps * unit.picosecond, 1, 1))
            log = files.enter_context(open(out / f"replica_{r}.csv", "w"))
            print('#"' + '","'.join(BATCH_LOG_COLUMNS) + '"', file=log, flush=True)
            logs.append(log)
        setup_s = time.perf_counter() - setup
        start = time.perf_counter()
        first_jump_s = None
        frames = iterate_replicas(jump_module, np.repeat(start_nm[None], len(indices), axis=0), config.jumps,
                                  [config.seed + r for r in indices], progress=False, keep_going=True)
        for step, frame in enumerate(frames, start=1):
            elapsed_days = (time.perf_counter() - start) / 86400.0
            for i, r in enumerate(indices):
                if blown_up_at[i] is not None:
                    continue
                if not np.isfinite(frame[i]).all():
                    blown_up_at[i] = step - 1
                    report_blow_up(r, step - 1)
                    continue
                dcds[i].writeModel(frame[i] * unit.nanometer)
                energy_context.setPositions(frame[i])
                energy = energy_context.getState(getEnergy=True).getPotentialEnergy()
                print(f"{step},{step * jump_ps},{energy.value_in_unit(unit.kilojoule_per_mole)},"
                      f"{step * jump_ps / 1000.0 / elapsed_days:.3g}", file=logs[i], flush=True)
                jumps_done[i] = step
            if first_jump_s is None:
                first_jump_s = time.perf_counter() - start
            bar.update(len(indices))
    return {"setup_s": setup_s, "first_jump_s": first_jump_s,
            "jumps_s": time.perf_counter() - start, "jumps_done": jumps_done, "blown_up_at_jump": blown_up_at}


def analyse(out: Path, replicas: list[int], reference: tuple[Path, list[Path]]) -> dict:
    """Compare the jumps of ``replicas`` with the reference MD: out/analysis/ (metrics.json, figures)."""
    topology_file, trajectories = reference
    reference_topology = mdtraj.load_topology(str(topology_file))
    reference_ensemble = load_ensemble(trajectories, topology_file, reference_topology, what="reference")
    generated = load_ensemble([out / f"replica_{r}.dcd" for r in replicas], out / "topology.pdb",
                              reference_topology, what="generated")
    metrics = compare_dynamics(reference_ensemble, generated, mdtraj.load(str(out / "topology.pdb")),
                               AnalysisSettings())
    folder = out / "analysis"
    write_metrics(metrics, folder / "metrics.json")
    figures = write_figures(metrics, folder)
    print(summary_table(metrics))
    return {"metrics": str(folder / "metrics.json"), "figures": [str(p) for p in figures],
            "reference": [str(p) for p in trajectories],
            "divergences_reweighted": metrics.comparison.divergences(True),
            "noise_floor_reweighted": metrics.noise_floor.divergences(True) if metrics.noise_floor else None}


def clear_previous_run(out: Path) -> None:
    """Remove what an earlier run wrote into ``out`` (replica files, analysis), so that no stale file sits
    beside the new summary; other files are left alone."""
    for path in (*out.glob("replica_*.dcd"), *out.glob("replica_*.csv"), out / "summary.json"):
        path.unlink(missing_ok=True)
    if (out / "analysis").is_dir():
        shutil.rmtree(out / "analysis")


def simulate(config: SimulateConfig) -> dict:
    """Run ``config`` and write its output folder (see the module docstring); returns the summary."""
    started = time.perf_counter()
    platform = resolve_platform(config.platform)
    topology, positions = read_structure(config)
    loading = time.perf_counter()
    try:
        jump_module = load_model(config.model, topology, latent_steps=config.latent_steps)
    except TopologyError as error:
        raise TopologyError(f"{config.pdb}: {error} (--prepare removes water, ions and heterogens)") from error
    load_s = time.perf_counter() - loading
    system = build_system(topology, config.pdb)  # one System, shared by the replicas' Simulations
    # the output folder is touched only once the inputs are known to work
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    clear_previous_run(out)
    (out / "simulate_config.yaml").write_text(yaml.safe_dump(asdict(config), sort_keys=False))
    with open(out / "topology.pdb", "w") as handle:
        app.PDBFile.writeFile(topology, positions, handle, keepIds=True)
    jump_ps = float(jump_module.jump_ps)
    latent_steps = int(jump_module.settings["latent_steps"])

    batches = config.batches
    batch_size = len(batches[0])
    records = []
    with tqdm(total=config.jumps * config.replicas, unit="jump", desc="EquiJump", dynamic_ncols=True) as bar:
        if batch_size == 1:
            for (index,) in batches:
                records.append(run_replica(index, config, topology, positions, system, jump_module, platform, out,
                                           bar))
        else:
            jump_module.to(jump_device(config.device))
            energy_context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                                            openmm.Platform.getPlatformByName(platform))
            for indices in batches:
                records.append(run_batch(indices, config, topology, positions, energy_context, jump_module, out,
                                         bar))

    jumps_done = [done for record in records for done in record["jumps_done"]]
    blown_up_at = [jump for record in records for jump in record["blown_up_at_jump"]]
    jumps_total = sum(jumps_done)
    simulated_ns = jumps_total * jump_ps / 1000.0
    jump_wall_s = sum(record["jumps_s"] for record in records)
    # the first jump of each batch moved each of its replicas by one jump (none for a replica that blew up there)
    steady_jumps = jumps_total - sum(1 for done in jumps_done if done)
    steady_wall_s = jump_wall_s - sum(record["first_jump_s"] for record in records)
    summary = {
        "model": config.model, "pdb": config.pdb, "jump_ps": jump_ps, "latent_steps": latent_steps,
        "batch_size": batch_size, "batches": len(batches), "replicas": config.replicas,
        "jumps_per_replica": config.jumps, "jumps_done": jumps_total, "blown_up_at_jump": blown_up_at,
        "stability": [stability_report(mdtraj.load_dcd(str(out / f"replica_{r}.dcd"), top=str(out / "topology.pdb")))
                      for r in range(config.replicas) if jumps_done[r]],
        "simulated_ns": simulated_ns, "platform": platform,
        "device": jump_device(config.device), "model_load_s": load_s,
        "setup_s": [record["setup_s"] for record in records],
        "first_jump_s": [record["first_jump_s"] for record in records],
        "jump_wall_s": jump_wall_s,
        "equijump_ns_per_day": simulated_ns / jump_wall_s * 86400.0,
        "equijump_ns_per_day_steady": (steady_jumps * jump_ps / 1000.0 / steady_wall_s * 86400.0
                                       if steady_jumps > 0 and steady_wall_s > 0 else None),
        "md_ns_per_day": None, "ratio": None, "ratio_steady": None, "analysis": None,
        "trajectories": [str(out / f"replica_{r}.dcd") for r in range(config.replicas)],
        "logs": [str(out / f"replica_{r}.csv") for r in range(config.replicas)],
    }
    if config.compare:
        temperature = config.temperature if config.temperature is not None else float(jump_module.temperature_K)
        md_rate = md_ns_per_day(topology, positions, platform=platform, seconds=config.md_seconds,
                                temperature=temperature)
        summary["md_ns_per_day"] = md_rate
        summary["ratio"] = summary["equijump_ns_per_day"] / md_rate
        if summary["equijump_ns_per_day_steady"] is not None:
            summary["ratio_steady"] = summary["equijump_ns_per_day_steady"] / md_rate
        summary["analysis"] = analysis_or_reason(config, out, jumps_done)
    summary["wall_s"] = time.perf_counter() - started
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(format_summary(summary))
    return summary


def analysis_or_reason(config: SimulateConfig, out: Path, jumps_done: list[int]) -> dict:
    """The analysis against the model's reference MD, or {"skipped": why} when it cannot be done."""
    reference = reference_md(config.model)
    if reference is None:
        return {"skipped": f"no reference MD ships with model {config.model!r} "
                           f"(<model folder>/{REFERENCE_DIR}/{REFERENCE_TOPOLOGY} and trajectories)"}
    if sum(jumps_done) < MIN_ANALYSIS_FRAMES:
        return {"skipped": f"{sum(jumps_done)} jumps are too few for the TICA/MSM comparison "
                           f"(at least {MIN_ANALYSIS_FRAMES})"}
    try:
        return analyse(out, [r for r, done in enumerate(jumps_done) if done], reference)
    except AtomMatchError as error:  # a model shipped for one protein, simulated on another
        return {"skipped": f"the reference MD of {config.model!r} is another protein: {error}"}


def format_summary(summary: dict) -> str:
    s = summary
    lines = [
        f"{s['jumps_done']} jumps ({s['replicas']} replica(s) x {s['jumps_per_replica']}) of {s['jump_ps']:g} ps: "
        f"{s['simulated_ns']:.2f} ns simulated in {s['jump_wall_s']:.1f} s of jumping "
        f"({s['wall_s']:.1f} s in all: model bound in {s['model_load_s']:.1f} s, set up in "
        f"{sum(s['setup_s']):.1f} s)",
        f"  EquiJump    {s['equijump_ns_per_day']:10.0f} ns/day  (batch size {s['batch_size']}, "
        f"{s['latent_steps']} latent steps, device {s['device']}, summed over replicas; first jump "
        f"{s['first_jump_s'][0]:.2f} s)",
    ]
    if s["equijump_ns_per_day_steady"] is not None:
        lines.append(f"  EquiJump    {s['equijump_ns_per_day_steady']:10.0f} ns/day  steady state "
                     "(first jumps left out)")
    if s["md_ns_per_day"] is not None:
        lines.append(f"  OpenMM MD   {s['md_ns_per_day']:10.0f} ns/day  (same System, {s['platform']} platform, 4 fs, "
                     "measured in this run)")
        ratio = f"  ratio       {s['ratio']:10.2f} x  EquiJump / OpenMM MD"
        if s["ratio_steady"] is not None:
            ratio += f" ({s['ratio_steady']:.2f} x steady state)"
        lines.append(ratio + f", batch size {s['batch_size']}, {s['latent_steps']} latent steps")
    analysis = s["analysis"]
    if analysis is not None:
        lines.append(f"  analysis:   {analysis['skipped']}" if "skipped" in analysis else
                     f"  analysis:   {analysis['metrics']} and figures (tica_free_energy.png: TIC1 x TIC2)")
    for r, (report, blown_up) in enumerate(zip(s["stability"], s["blown_up_at_jump"])):
        state = ("stable: finite, consecutive C-alphas within 3.8 +/- 0.5 A, no heavy atoms within 1 A"
                 if report["first_bad_frame"] is None else
                 f"broken from jump {report['first_bad_frame'] + 1} (C-alpha distances "
                 f"{report['ca_ca_range_A'][0]:.1f}-{report['ca_ca_range_A'][1]:.1f} A, closest heavy atoms "
                 f"{report['closest_heavy_pair_A']:.2f} A)")
        if blown_up is not None:
            state += f"; non-finite at jump {blown_up + 1}, stopped"
        lines.append(f"  replica {r}:  {state}")
    lines.append(f"  trajectories: {', '.join(s['trajectories'])}")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> SimulateConfig:
    defaults = SimulateConfig()
    parser = argparse.ArgumentParser(prog="python -m openmm_equijump.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdb", default=defaults.pdb, help="structure to simulate (default: shipped chignolin)")
    parser.add_argument("--model", default=defaults.model,
                        help="shipped model name, training run folder or checkpoint (default: chignolin)")
    parser.add_argument("--jumps", type=int, default=defaults.jumps, help="jumps per replica")
    parser.add_argument("--replicas", type=int, default=defaults.replicas)
    parser.add_argument("--batch-size", type=int,
                        help="replicas per call of the jump module (default: all replicas in one batch; 1: each "
                             "replica an openmm.app.Simulation with the EquiJumpIntegrator, one after the other)")
    parser.add_argument("--out", default=defaults.out,
                        help="output folder (files of an earlier run there are replaced)")
    parser.add_argument("--latent-steps", type=int, help="sampler steps per jump (default: the sampler's)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="replica r uses seed + r (>= 1)")
    parser.add_argument("--temperature", type=float, help="K of the velocities and the MD yardstick "
                                                          "(default: the model's training temperature)")
    parser.add_argument("--platform", default=defaults.platform,
                        help="OpenMM platform (auto: CUDA if present, else CPU)")
    parser.add_argument("--device", default=defaults.device, help="device of the jump module: auto, cpu, cuda, ...")
    parser.add_argument("--md-seconds", type=float, default=defaults.md_seconds,
                        help="wall seconds of the OpenMM MD yardstick")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the MD yardstick and the analysis against reference MD")
    parser.add_argument("--prepare", action="store_true",
                        help="make the structure simulation-ready first (PDBFixer: hydrogens, missing atoms)")
    args = parser.parse_args(argv)
    return SimulateConfig(**vars(args))


def main(argv: Optional[list[str]] = None) -> int:
    try:
        simulate(parse_args(argv))
    except (SimulateError, TopologyError, JumpModuleError, FileNotFoundError) as error:
        # Bad input: the message names the file, model or residue and the fix; a traceback would bury it.
        raise SystemExit(f"error: {error}") from error
    return 0


if __name__ == "__main__":
    sys.exit(main())
