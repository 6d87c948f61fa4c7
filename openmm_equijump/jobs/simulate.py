"""The main job: EquiJump through ``openmm.app.Simulation`` (``python -m openmm_equijump.simulate``).

With no argument it simulates the shipped chignolin structure with the shipped ``chignolin`` model, measures
OpenMM MD of the same System in the same run, and compares the jumps with the reference MD that ships with
the model:

    python -m openmm_equijump.simulate
    python -m openmm_equijump.simulate --pdb protein.pdb --model runs/mine --jumps 500 --replicas 4 --out runs/ej

Replica r starts from the structure's positions and is the trajectory of an ``EquiJumpIntegrator`` seeded
``seed + r`` on the System of ``md.native_obc2_system`` (amber14 + OBC2 as the native GBSAOBCForce, HBonds,
hydrogen mass 4 amu -- the System the MD yardstick runs). How the replicas are run is ``--batch-size B``
(default: all replicas in one batch):

- B > 1: B replicas at a time through ``runtime.replicas.iterate_replicas`` (``rollout.run_batch``), one call
  of the jump module per jump for the whole batch (on ``--device``). Each replica's jumps use its own seed, so replica r is the
  trajectory the integrator seeded ``seed + r`` would make, to float32 round-off (``replicas``).
- B = 1 (and a single replica): each replica is an ``openmm.app.Simulation`` with the ``EquiJumpIntegrator``
  (the C++ plugin) and DCD / StateData reporters, one after the other (``rollout.run_replica``).

Output folder: ``topology.pdb`` (the structure simulated), ``replica_<r>.dcd`` (one frame per jump; its header carries the jump interval), ``replica_<r>.csv``
(as StateDataReporter writes it: step, time, potential energy, speed, and with B = 1 the temperature of the
velocities the integrator draws after each jump; a batched replica has no velocities, so no temperature
column, and its potential energies come from one Context shared by all replicas),
``simulate_config.yaml`` (``--config`` reads it back), ``summary.json`` and, when the model ships reference MD
of this protein (``pretrained/<name>/reference/``), ``analysis/``: the TIC1 x TIC2 free-energy surface of the jumps against
that reference, the other figures of ``python -m openmm_equijump.analyze`` and its ``metrics.json``.

Speed is reported as a ratio: EquiJump's simulated ns/day over OpenMM MD's ns/day of the same
System, measured side by side in this run (EquiJump's from the jumps this run made), with the batch size and the latent steps beside the ratio;
EquiJump's rate is summed over the replicas (a batch of B advances B x jump interval per call). Both include
writing the files and the potential energies. The steady-state rate leaves out each batch's first jump, whose
latency (TorchScript loading and warm-up) is reported on its own.

Rerun the same command after an interruption and it resumes, as ``md`` does: each replica continues from its
checkpoint (``rollout``) and a larger ``--jumps`` or ``--replicas`` extends a finished run. A rerun with other
settings that shape the trajectories (``RESUME_FIXED``) is refused by name; ``--force`` replaces the earlier run.
Every input is checked before the output folder is touched.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import mdtraj
import openmm
import openmm.app as app
from tqdm import tqdm

from ..analysis import AtomMatchError
from ..analysis.report import summary_table
from ..analysis.run import analyse_files
from ..analysis.stability import stability_report
from ..config import load_yaml, save_yaml
from ..device import cpu_threads, resolve_device
from ..errors import EquiJumpError
from ..md.prepare import prepare_structure, read_structure_file
from ..md.reference import md_ns_per_day, native_obc2_system, resolve_platform
from ..protein.topology import TopologyError
from ..runtime.load import PRETRAINED_DIR, REFERENCE_DIR, REFERENCE_TOPOLOGY, load_model, reference_md
from .rollout import run_batch, run_replica

#: Jumps per replica of the default run. Tune to the shipped model's jump latency so that the default run
#: (jumps, MD yardstick and analysis) takes a few minutes on two CPU cores.
DEFAULT_JUMPS = 50
DEFAULT_MODEL = "chignolin"
DEFAULT_PDB = PRETRAINED_DIR / "chignolin" / "structure.pdb"
DEFAULT_OUT = "equijump_chignolin"
#: Fewer generated frames than this (over all replicas) cannot carry the TICA/MSM comparison.
MIN_ANALYSIS_FRAMES = 20
CONFIG_NAME = "simulate_config.yaml"
#: Settings a resumed run must share with the run it continues (the others, such as jumps, may change).
RESUME_FIXED = ("pdb", "model", "seed", "latent_steps", "temperature_K", "prepare", "batch_size")


class SimulateError(EquiJumpError, ValueError):
    """A run that cannot start: a missing structure, a System the force field cannot build, bad settings."""


@dataclass
class SimulateConfig:
    """Settings of one ``simulate`` run; saved as ``simulate_config.yaml`` in the output folder.

    pdb: structure (PDB or PDBx/mmCIF), simulation-ready unless ``prepare``. model: a shipped model name, a
    training run folder or a checkpoint. jumps: per replica. batch_size: replicas per call of the jump module
    (None: all of them; 1: one ``Simulation`` per replica, see the module docstring). latent_steps: sampler
    steps per jump (None: the sampler's default). seed: replica r uses seed + r (>= 1: 0 would make the
    integrator pick a random one). temperature_K: K of the velocities drawn after each jump (by the integrator,
    batch size 1) and of the MD yardstick (None: the model's).
    platform: OpenMM platform of the Simulations and the MD yardstick ("auto": CUDA when OpenMM has it, else
    CPU). device: where the jump module runs ("auto", "cpu", "cuda", ...). threads: libtorch's CPU threads during
    the jumps (0: one per core; 1, the default, is the fastest beside other busy processes). compiled: the network
    compiled ahead of time for this protein and CPU (``runtime.compiled``; the CPU only; the first run compiles
    for minutes, later runs load the cached packages). md_seconds: how long the MD
    yardstick runs. compare: measure the MD yardstick and analyse against the model's reference MD.
    prepare: make the structure simulation-ready first (PDBFixer: hydrogens, missing atoms; ``md.prepare``).
    """

    pdb: str = str(DEFAULT_PDB)
    model: str = DEFAULT_MODEL
    jumps: int = DEFAULT_JUMPS
    replicas: int = 1
    batch_size: Optional[int] = None
    out: str = DEFAULT_OUT
    latent_steps: Optional[int] = None
    seed: int = 1
    temperature_K: Optional[float] = field(default=None, metadata={"aliases": ("temperature",)})
    platform: str = "auto"
    device: str = "auto"
    threads: int = 1
    compiled: bool = False
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
        if self.threads < 0:
            raise SimulateError(f"threads must be >= 0 (0: one per core), got {self.threads}")
        if self.compiled and self.device not in ("auto", "cpu"):
            raise SimulateError(f"compiled jump modules run on the CPU, not device {self.device!r}: drop --compiled "
                                "or use --device cpu")

    @property
    def batches(self) -> list[list[int]]:
        """The replica indices of each batch, in the order they run."""
        size = min(self.batch_size or self.replicas, self.replicas)
        return [list(range(first, min(first + size, self.replicas))) for first in range(0, self.replicas, size)]


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
    structure = read_structure_file(path, reader)
    return structure.topology, structure.positions


def build_system(topology: app.Topology, pdb: str) -> openmm.System:
    """The System of the MD yardstick (md.native_obc2_system), or a SimulateError that suggests --prepare."""
    try:
        return native_obc2_system(topology)
    except ValueError as error:  # amber14 has no template: hydrogens or heavy atoms missing, unknown residue
        raise SimulateError(f"{pdb}: amber14 + OBC2 cannot build a System for this structure ({error}); "
                            "pass --prepare to add hydrogens and missing atoms with PDBFixer, or give a "
                            "simulation-ready structure") from error


def analyse(out: Path, replicas: list[int], reference: tuple[Path, list[Path]]) -> dict:
    """Compare the jumps of ``replicas`` with the reference MD: out/analysis/ (metrics.json, figures)."""
    topology_file, trajectories = reference
    folder = out / "analysis"
    metrics, figures = analyse_files(topology_file, trajectories, [out / f"replica_{r}.dcd" for r in replicas],
                                     out / "topology.pdb", out / "topology.pdb", folder)
    print(summary_table(metrics))
    return {"metrics": str(folder / "metrics.json"), "figures": [str(p) for p in figures],
            "reference": [str(p) for p in trajectories],
            "divergences_reweighted": metrics.comparison.divergences(True),
            "noise_floor_reweighted": metrics.noise_floor.divergences(True) if metrics.noise_floor else None}


def clear_previous_run(out: Path) -> None:
    """Remove what an earlier run wrote into ``out`` (replica files and checkpoints, analysis), so that no stale
    file sits beside the new summary; other files are left alone."""
    for path in (*out.glob("replica_*.dcd"), *out.glob("replica_*.csv"), *out.glob("replica_*.chk"),
                 *out.glob("replica_*.npz"), out / "summary.json"):
        path.unlink(missing_ok=True)
    if (out / "analysis").is_dir():
        shutil.rmtree(out / "analysis")


@dataclass
class Inputs:
    """What a run needs before it touches its output folder: all checked."""

    platform: str
    device: str
    topology: app.Topology
    positions: list
    jump_module: object
    model_load_s: float
    system: openmm.System


def read_inputs(config: SimulateConfig) -> Inputs:
    """Platform, structure, the model bound to it, and the System of the MD yardstick (one System, shared by
    the replicas' Simulations)."""
    platform = resolve_platform(config.platform)
    device = "cpu" if config.compiled else str(resolve_device(config.device))
    topology, positions = read_structure(config)
    loading = time.perf_counter()
    try:
        jump_module = load_model(config.model, topology, latent_steps=config.latent_steps,
                                 temperature_K=config.temperature_K, compiled=config.compiled)
    except TopologyError as error:
        raise TopologyError(f"{config.pdb}: {error} (--prepare removes water, ions and heterogens)") from error
    load_s = time.perf_counter() - loading
    return Inputs(platform, device, topology, positions, jump_module, load_s, build_system(topology, config.pdb))


def check_continuable(out: Path, config: SimulateConfig) -> None:
    """Refuse, by name, to continue the run in ``out`` with settings that would change its trajectories."""
    saved = out / CONFIG_NAME
    if not saved.is_file():
        if any(out.glob("replica_*")):
            raise SimulateError(f"{out} holds replica files without {CONFIG_NAME}; choose another --out, or "
                                "replace them with --force")
        return
    previous = load_yaml(SimulateConfig, saved)
    for key in RESUME_FIXED:
        if getattr(previous, key) != getattr(config, key):
            raise SimulateError(f"{out} holds a run with {key}={getattr(previous, key)!r}, not "
                                f"{getattr(config, key)!r}; use the same settings to continue it, another --out, "
                                "or --force to replace it")


def start_output(config: SimulateConfig, inputs: Inputs, force: bool) -> Path:
    """The output folder with the config and the structure simulated: an earlier run there is continued
    (``check_continuable``), or with ``force`` cleared."""
    out = Path(config.out)
    if force:
        if out.is_dir():
            clear_previous_run(out)
    else:
        check_continuable(out, config)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / CONFIG_NAME)
    with open(out / "topology.pdb", "w") as handle:
        app.PDBFile.writeFile(inputs.topology, inputs.positions, handle, keepIds=True)
    return out


def run_all(config: SimulateConfig, inputs: Inputs, out: Path) -> list[dict]:
    """Every batch of replicas (``rollout``); one record per batch."""
    records = []
    with tqdm(total=config.jumps * config.replicas, unit="jump", desc="EquiJump", dynamic_ncols=True) as bar, \
            cpu_threads(config.threads):
        if len(config.batches[0]) == 1:
            for (index,) in config.batches:
                records.append(run_replica(index, config, inputs.topology, inputs.positions, inputs.system,
                                           inputs.jump_module, inputs.platform, out, bar))
        else:
            inputs.jump_module.to(inputs.device)
            energy_context = openmm.Context(inputs.system, openmm.VerletIntegrator(0.001),
                                            openmm.Platform.getPlatformByName(inputs.platform))
            for indices in config.batches:
                records.append(run_batch(indices, config, inputs.topology, inputs.positions, energy_context,
                                         inputs.jump_module, out, bar))
    return records


def summarize(config: SimulateConfig, inputs: Inputs, out: Path, records: list[dict]) -> dict:
    """Jumps, stability of every replica and EquiJump's rates (raw and steady state) of the jumps this call made
    (a resumed run's earlier jumps count in the totals, not in the rates; None when none was made)."""
    jump_ps = float(inputs.jump_module.jump_ps)
    jumps_done = [done for record in records for done in record["jumps_done"]]
    jumps_total = sum(jumps_done)
    jumps_run = [run for record in records for run in record["jumps_run"]]
    run_ns = sum(jumps_run) * jump_ps / 1000.0
    jump_wall_s = sum(record["jumps_s"] for record in records)
    # the first jump of each batch moved each of its replicas by one jump (none for a replica that blew up there)
    steady_jumps = sum(jumps_run) - sum(1 for run in jumps_run if run)
    steady_wall_s = jump_wall_s - sum(record["first_jump_s"] for record in records)
    return {
        "model": config.model, "pdb": config.pdb, "jump_ps": jump_ps,
        "latent_steps": int(inputs.jump_module.settings["latent_steps"]),
        "batch_size": len(config.batches[0]), "batches": len(config.batches), "replicas": config.replicas,
        "jumps_per_replica": config.jumps, "jumps_done": jumps_total,
        "blown_up_at_jump": [jump for record in records for jump in record["blown_up_at_jump"]],
        "stability": [stability_report(mdtraj.load_dcd(str(out / f"replica_{r}.dcd"), top=str(out / "topology.pdb")))
                      for r in range(config.replicas) if jumps_done[r]],
        "jumps_run": sum(jumps_run), "simulated_ns": jumps_total * jump_ps / 1000.0, "platform": inputs.platform,
        "device": inputs.device, "model_load_s": inputs.model_load_s,
        "setup_s": [record["setup_s"] for record in records],
        "first_jump_s": [record["first_jump_s"] for record in records],
        "jump_wall_s": jump_wall_s,
        "equijump_ns_per_day": run_ns / jump_wall_s * 86400.0 if run_ns > 0 and jump_wall_s > 0 else None,
        "equijump_ns_per_day_steady": (steady_jumps * jump_ps / 1000.0 / steady_wall_s * 86400.0
                                       if steady_jumps > 0 and steady_wall_s > 0 else None),
        "md_ns_per_day": None, "ratio": None, "ratio_steady": None, "analysis": None,
        "trajectories": [str(out / f"replica_{r}.dcd") for r in range(config.replicas)],
        "logs": [str(out / f"replica_{r}.csv") for r in range(config.replicas)],
        "jumps_done_per_replica": jumps_done,
    }


def compare_with_md(config: SimulateConfig, inputs: Inputs, out: Path, summary: dict) -> None:
    """The MD yardstick (same System, measured now) and the analysis against the model's reference MD."""
    temperature = config.temperature_K if config.temperature_K is not None else float(inputs.jump_module.temperature_K)
    md_rate = md_ns_per_day(inputs.topology, inputs.positions, platform=inputs.platform, seconds=config.md_seconds,
                            temperature=temperature)
    summary["md_ns_per_day"] = md_rate
    if summary["equijump_ns_per_day"] is not None:
        summary["ratio"] = summary["equijump_ns_per_day"] / md_rate
    if summary["equijump_ns_per_day_steady"] is not None:
        summary["ratio_steady"] = summary["equijump_ns_per_day_steady"] / md_rate
    summary["analysis"] = analysis_or_reason(config, out, summary["jumps_done_per_replica"])


def simulate(config: SimulateConfig, force: bool = False) -> dict:
    """Run (or continue) ``config`` and write its output folder (see the module docstring); ``force`` replaces
    an earlier run there. Returns the summary."""
    started = time.perf_counter()
    inputs = read_inputs(config)
    out = start_output(config, inputs, force)  # touched only once the inputs are known to work
    records = run_all(config, inputs, out)
    summary = summarize(config, inputs, out, records)
    if config.compare:
        compare_with_md(config, inputs, out, summary)
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
    resumed = s["jumps_done"] - s["jumps_run"]
    lines = [
        f"{s['jumps_done']} jumps ({s['replicas']} replica(s) x {s['jumps_per_replica']}) of {s['jump_ps']:g} ps: "
        f"{s['simulated_ns']:.2f} ns simulated" + (f" ({resumed} jumps by an earlier run, continued)" if resumed else "")
        + f"; {s['jumps_run']} jumps in {s['jump_wall_s']:.1f} s of jumping ({s['wall_s']:.1f} s in all: model "
        f"bound in {s['model_load_s']:.1f} s, set up in {sum(s['setup_s']):.1f} s)",
    ]
    if s["equijump_ns_per_day"] is not None:
        lines.append(f"  EquiJump    {s['equijump_ns_per_day']:10.0f} ns/day  (batch size {s['batch_size']}, "
                     f"{s['latent_steps']} latent steps, device {s['device']}, summed over replicas; first jump "
                     f"{s['first_jump_s'][0]:.2f} s)")
    if s["equijump_ns_per_day_steady"] is not None:
        lines.append(f"  EquiJump    {s['equijump_ns_per_day_steady']:10.0f} ns/day  steady state "
                     "(first jumps left out)")
    if s["md_ns_per_day"] is not None:
        lines.append(f"  OpenMM MD   {s['md_ns_per_day']:10.0f} ns/day  (same System, {s['platform']} platform, 4 fs, "
                     "measured in this run)")
    if s["ratio"] is not None:
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


