"""Reference molecular dynamics on demand: ``python -m openmm_equijump.md`` (``cli.md``).

The protocol is the one the shipped chignolin data was made with (its ``training_md/README.md``): amber14-all
with OBC2 implicit solvent as OpenMM's native ``GBSAOBCForce`` (about 6x faster on the CPU platform than the
``CustomGBForce`` that ``implicit/obc2.xml`` builds, same energies), no cutoff, HBonds constraints, hydrogen
mass 4 amu, ``LangevinMiddleIntegrator`` with friction 1/ps and a 4 fs step, minimized start, velocities drawn
at the temperature. Each replica writes a DCD and a CSV log into the output folder and a checkpoint after
every chunk, so an interrupted run continues where it stopped when the same command is run again.

    python -m openmm_equijump.md --pdb protein.pdb --ns 100 --replicas 4 --temperature-k 350 --out runs/md
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import openmm
import openmm.app as app
import openmm.unit as unit
from tqdm import tqdm

from ..config import check_ranges, config_to_dict, load_yaml, save_yaml
from ..errors import ConfigError
from ..trajectory_files import truncate_dcd, truncate_log
from .prepare import prepare_structure


@dataclass
class MDConfig:
    """Settings of a reference MD run; saved as ``md_config.yaml`` beside its output."""

    pdb: str
    ns: float = 10.0                 # length of each replica, ns
    replicas: int = 1
    temperature_K: float = field(default=350.0, metadata={"aliases": ("temperature",)})
    frame_ps: float = 10.0           # interval between saved frames, ps
    timestep_fs: float = 4.0
    friction_per_ps: float = 1.0
    hydrogen_mass_amu: float = 4.0
    chunk_ns: float = 1.0            # a checkpoint is written after every chunk
    seed: int = 1                    # replica i uses seed + i
    chains: list[str] = field(default_factory=list)
    platform: str = "CPU"
    threads: int = 0                 # CPU platform threads; 0 = all cores

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("replicas",), non_negative=("threads", "friction_per_ps"),
                     positive=("ns", "temperature_K", "frame_ps", "timestep_fs", "chunk_ns", "hydrogen_mass_amu"))

    @property
    def steps_per_frame(self) -> int:
        steps = self.frame_ps * 1000.0 / self.timestep_fs
        if abs(steps - round(steps)) > 1e-9:
            raise ConfigError(f"frame interval {self.frame_ps} ps is not a multiple of the {self.timestep_fs} fs time step")
        return int(round(steps))

    def frames(self, ns: float) -> int:
        frames = ns * 1000.0 / self.frame_ps
        if abs(frames - round(frames)) > 1e-6:
            raise ConfigError(f"{ns} ns is not a whole number of {self.frame_ps} ps frames")
        return int(round(frames))


def native_obc2_system(topology: app.Topology, hydrogen_mass_amu: float = 4.0) -> openmm.System:
    """amber14-all + OBC2 implicit solvent, with the OBC2 ``CustomGBForce`` replaced by ``GBSAOBCForce``.

    ``implicit/obc2.xml`` stores per particle (charge, offset radius, scaled offset radius) with a 0.009 nm
    offset; ``GBSAOBCForce`` takes (charge, radius, scale factor) and applies the same offset and the same
    OBC-II constants, so the energies agree to round-off (tested).
    """
    forcefield = app.ForceField("amber14-all.xml", "implicit/obc2.xml")
    system = forcefield.createSystem(
        topology,
        nonbondedMethod=app.NoCutoff,
        constraints=app.HBonds,
        hydrogenMass=hydrogen_mass_amu * unit.amu,
    )
    custom = [i for i, f in enumerate(system.getForces()) if isinstance(f, openmm.CustomGBForce)]
    if len(custom) != 1:
        raise RuntimeError(f"expected one CustomGBForce from implicit/obc2.xml, found {len(custom)}")
    gb_custom = system.getForce(custom[0])
    native = openmm.GBSAOBCForce()
    native.setNonbondedMethod(openmm.GBSAOBCForce.NoCutoff)
    native.setSoluteDielectric(1.0)
    native.setSolventDielectric(78.5)
    offset = 0.009
    for i in range(gb_custom.getNumParticles()):
        charge, offset_radius, scaled_offset_radius = gb_custom.getParticleParameters(i)
        native.addParticle(charge, offset_radius + offset, scaled_offset_radius / offset_radius)
    native.setForceGroup(gb_custom.getForceGroup())
    system.removeForce(custom[0])
    system.addForce(native)
    return system


def resolve_platform(name: str) -> str:
    """An OpenMM platform name; "auto" is CUDA when this OpenMM has it, else CPU; one not here is refused
    naming those that are."""
    available = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if name == "auto":
        return "CUDA" if "CUDA" in available else "CPU"
    if name not in available:
        raise ConfigError(f"OpenMM platform {name!r} is not available here; choose one of {available}")
    return name


def md_ns_per_day(topology: app.Topology, positions, *, platform: str = "CPU", threads: int = 0,
                  seconds: float = 10.0, temperature: float = 350.0) -> float:
    """OpenMM MD throughput (ns/day) of this protein with the reference protocol, measured for ``seconds``.

    The yardstick every EquiJump speed is divided by: the same System at its fastest honest set-up
    (native OBC2, HBonds, hydrogen mass 4 amu, 4 fs), after a short warm-up that is not counted.
    """
    config = MDConfig(pdb="", temperature_K=temperature)
    return system_ns_per_day(native_obc2_system(topology, config.hydrogen_mass_amu), positions, platform=platform,
                             threads=threads, seconds=seconds, temperature=temperature)


def system_ns_per_day(system: openmm.System, positions, *, platform: str = "CPU", threads: int = 0,
                      seconds: float = 10.0, temperature: float = 350.0, chunk_steps: int = 250) -> float:
    """OpenMM MD throughput (ns/day) of any ``system``: LangevinMiddle with the reference protocol's friction
    and time step (``MDConfig``), from a briefly minimized start, timed for ``seconds`` after a warm-up, with
    the positions read every ``chunk_steps`` steps as a reporter would (which makes the platform finish)."""
    config = MDConfig(pdb="", temperature_K=temperature)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature * unit.kelvin, config.friction_per_ps / unit.picosecond, config.timestep_fs * unit.femtosecond
    )
    properties = {"Threads": str(threads)} if platform == "CPU" and threads else {}
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform), properties)
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, maxIterations=100)
    context.setVelocitiesToTemperature(temperature * unit.kelvin, 1)
    integrator.step(chunk_steps)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        integrator.step(chunk_steps)
        context.getState(getPositions=True)
        steps += chunk_steps
    elapsed = time.perf_counter() - start
    return steps * config.timestep_fs * 1e-6 / elapsed * 86400.0


class Replica:
    """One MD trajectory in ``out/replica_<i>.{dcd,csv,chk}``, resumable from its checkpoint."""

    def __init__(self, config: MDConfig, index: int, topology: app.Topology, positions, out: Path):
        self.config, self.index, self.out = config, index, out
        self.dcd = out / f"replica_{index}.dcd"
        self.log = out / f"replica_{index}.csv"
        self.checkpoint = out / f"replica_{index}.chk"
        system = native_obc2_system(topology, config.hydrogen_mass_amu)
        integrator = openmm.LangevinMiddleIntegrator(
            config.temperature_K * unit.kelvin, config.friction_per_ps / unit.picosecond, config.timestep_fs * unit.femtosecond
        )
        integrator.setRandomNumberSeed(config.seed + index)
        platform = openmm.Platform.getPlatformByName(config.platform)
        properties = {"Threads": str(config.threads)} if config.platform == "CPU" and config.threads else {}
        self.simulation = app.Simulation(topology, system, integrator, platform, properties)
        resuming = self.checkpoint.exists()
        if resuming:
            self.simulation.loadCheckpoint(str(self.checkpoint))
            # what an interrupted chunk wrote after the checkpoint is made again, not repeated
            truncate_dcd(self.dcd, self.frames_done)
            truncate_log(self.log, self.simulation.currentStep)
        else:
            self.simulation.context.setPositions(positions)
            self.simulation.minimizeEnergy()
            self.simulation.context.setVelocitiesToTemperature(config.temperature_K * unit.kelvin, config.seed + index)
        self.simulation.reporters.append(app.DCDReporter(str(self.dcd), config.steps_per_frame, append=resuming))
        self.simulation.reporters.append(
            app.StateDataReporter(
                str(self.log), config.steps_per_frame * 10,
                step=True, time=True, potentialEnergy=True, temperature=True, speed=True, append=resuming,
            )
        )

    @property
    def frames_done(self) -> int:
        return self.simulation.context.getStepCount() // self.config.steps_per_frame

    def advance(self, frames: int) -> None:
        """Run ``frames`` more frames, then checkpoint."""
        self.simulation.step(frames * self.config.steps_per_frame)
        self.simulation.saveCheckpoint(str(self.checkpoint))


def run_reference_md(config: MDConfig, out: str | Path) -> dict:
    """Run (or continue) ``config.replicas`` replicas of ``config.ns`` ns each into ``out``.

    Replicas advance in turn, one chunk at a time, so all grow together when a run is interrupted. The
    structure, the platform and an earlier run's settings are checked before ``out`` is written to.
    Returns a summary: frames per replica, and the ns simulated, wall seconds and ns/day of this invocation
    (ns/day None when it had nothing left to run).
    """
    out = Path(out)
    resolve_platform(config.platform)
    config_file = out / "md_config.yaml"
    if config_file.exists():
        previous = config_to_dict(load_yaml(MDConfig, config_file))
        for key in ("pdb", "temperature_K", "frame_ps", "timestep_fs", "hydrogen_mass_amu", "seed", "chains"):
            if previous[key] != getattr(config, key):
                raise ConfigError(
                    f"{out} holds a run with {key}={previous[key]!r}, not {getattr(config, key)!r}; "
                    "use another --out or the same settings to continue it"
                )

    topology_file = out / "topology.pdb"
    if topology_file.exists():
        pdb = app.PDBFile(str(topology_file))
        topology, positions = pdb.topology, pdb.positions
        out.mkdir(parents=True, exist_ok=True)
    else:
        prepared = prepare_structure(config.pdb, config.chains or None)
        for change in prepared.changes:
            print(f"prepare: {change}", file=sys.stderr)
        out.mkdir(parents=True, exist_ok=True)  # only now: the structure is known to work
        (out / "prepare.log").write_text("\n".join(prepared.changes) + "\n")
        with open(topology_file, "w") as f:
            app.PDBFile.writeFile(prepared.topology, prepared.positions, f, keepIds=True)
        topology, positions = prepared.topology, prepared.positions
    save_yaml(config, config_file)

    replicas = [Replica(config, i, topology, positions, out) for i in range(config.replicas)]
    target = config.frames(config.ns)
    chunk = max(1, config.frames(config.chunk_ns))
    frames_run = 0  # by this call: a replica already past the target (an earlier, longer run) adds nothing
    start = time.perf_counter()
    with tqdm(total=target * len(replicas), initial=sum(min(r.frames_done, target) for r in replicas),
              unit="frame", desc="reference MD") as bar:
        while any(r.frames_done < target for r in replicas):
            for replica in replicas:
                frames = min(chunk, target - replica.frames_done)
                if frames > 0:
                    replica.advance(frames)
                    frames_run += frames
                    bar.update(frames)
    wall = time.perf_counter() - start
    simulated_ns = frames_run * config.frame_ps / 1000.0
    return {
        "frames_per_replica": [r.frames_done for r in replicas],
        "simulated_ns": simulated_ns,
        "wall_s": wall,
        "ns_per_day": simulated_ns / wall * 86400.0 if simulated_ns > 0 else None,
    }
