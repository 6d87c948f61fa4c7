"""A reference-MD campaign that the package runs itself (command line: ``python -m openmm_equijump.campaign``).

A campaign file names proteins, their start structures, replicas and length; the protocol is the package's
reference protocol (``md.native_obc2_system``: amber14-all + OBC2 as the native ``GBSAOBCForce``, no cutoff,
HBonds, hydrogen mass 4 amu, LangevinMiddle, 4 fs). Each run of the command advances the unfinished replicas
chunk by chunk (the earliest protein in the file first, then the replica with the fewest chunks) and can be
stopped at any moment and rerun on any machine and platform:

- ``<protein>/replica_<i>/trajectory.xtc``: heavy atoms only, one frame every ``frame_ps`` (times in ps);
  ``<protein>/heavy_atoms.pdb`` is its topology.
- ``<protein>/replica_<i>/restart_<chunk>.xml``: a portable restart (an OpenMM ``State``: positions,
  velocities, time, step count), not a platform checkpoint.
- ``manifest.yaml``: the truth about what exists. Per replica: seed, start, chunks and ns done, the byte
  length of the XTC that belongs to them, the restart, and which platforms ran its chunks; the protocol and
  the software versions. A chunk counts only once its frames are appended, its restart renamed into place
  and the manifest rewritten; on restart, bytes and files beyond the manifest are dropped.

Exact continuation: a restart XML holds no random-number state, so every chunk, interrupted or not, starts
from the previous chunk's restart with a fresh integrator seeded by (replica seed, chunk index). An
interrupted chunk is rerun from the same restart with the same seed and gives the same frames.

    python -m openmm_equijump.campaign data/md/campaign.yaml --threads 1 --stop-after-minutes 60
    python -m openmm_equijump.campaign data/md/campaign.yaml --platform CUDA --workers 12
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import groupby
from multiprocessing import get_context
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import yaml
from tqdm import tqdm

from ..config import config_from_dict
from ..errors import EquiJumpError
from .reference import native_obc2_system

MANIFEST = "manifest.yaml"


class CampaignError(EquiJumpError, ValueError):
    """A campaign file or folder that cannot be run as it is."""


@dataclass
class ProteinPlan:
    """One protein of a campaign.

    structure: simulation-ready PDB (hydrogens for amber14), the topology of every replica. starts: start
    structures with that topology, given to the replicas in turn (replica i starts from starts[i % len]);
    default: the structure itself. Replica i uses seed + i. Paths are relative to the campaign file.
    """

    name: str
    structure: str
    replicas: int
    ns_per_replica: float
    seed: int
    starts: list[str] = field(default_factory=list)

    def start_of(self, replica: int) -> str:
        starts = self.starts or [self.structure]
        return starts[replica % len(starts)]


@dataclass
class Campaign:
    """A campaign file (YAML) and the protocol it runs.

    burn_in_ns: what the analysis drops from the start of every replica (the starts are not equilibrium
    states); stated beside every number computed from the campaign. chunk_ns: the unit of progress and of
    reseeding; changing it changes the trajectories, so it is fixed once a campaign has started.
    """

    proteins: list[ProteinPlan] = field(metadata={"items": ProteinPlan})
    temperature_K: float = field(default=350.0, metadata={"aliases": ("temperature_k",)})
    frame_ps: float = 10.0
    chunk_ns: float = 0.5
    timestep_fs: float = 4.0
    friction_per_ps: float = 1.0
    hydrogen_mass_amu: float = 4.0
    burn_in_ns: float = 2.0
    folder: Path = field(default=Path("."), repr=False)  # where the file lies; set by load, not read from it

    @classmethod
    def load(cls, path: str | Path) -> "Campaign":
        path = Path(path)
        if not path.is_file():
            raise CampaignError(f"campaign file {path} does not exist")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict) or not raw.get("proteins"):
            raise CampaignError(f"{path}: no proteins")
        raw.pop("folder", None)
        campaign = config_from_dict(cls, raw, where=str(path))  # numbers checked and made floats there
        campaign.folder = path.resolve().parent
        campaign.check()
        return campaign

    def check(self) -> None:
        """Frame, chunk and step sizes that divide each other, and start files that exist."""
        for name, value in (("frame_ps", self.frame_ps), ("chunk_ns", self.chunk_ns)):
            if value <= 0:
                raise CampaignError(f"{name} must be positive, not {value}")
        self.steps_per_frame, self.frames_per_chunk  # noqa: B018 (raise on sizes that do not divide)
        names = [p.name for p in self.proteins]
        if len(set(names)) != len(names):
            raise CampaignError(f"protein names repeat: {names}")
        for plan in self.proteins:
            for start in {plan.structure, *plan.starts}:
                if not (self.folder / start).is_file():
                    raise CampaignError(f"protein {plan.name}: start structure {self.folder / start} does not exist")
            chunks = plan.ns_per_replica / self.chunk_ns
            if abs(chunks - round(chunks)) > 1e-6:
                raise CampaignError(f"protein {plan.name}: ns_per_replica {plan.ns_per_replica} is not a whole "
                                    f"number of {self.chunk_ns} ns chunks")

    @property
    def steps_per_frame(self) -> int:
        return _whole(self.frame_ps * 1000.0 / self.timestep_fs, "frame_ps", "timestep_fs")

    @property
    def frames_per_chunk(self) -> int:
        return _whole(self.chunk_ns * 1000.0 / self.frame_ps, "chunk_ns", "frame_ps")

    def chunks_of(self, plan: ProteinPlan) -> int:
        return int(round(plan.ns_per_replica / self.chunk_ns))

    def protocol(self) -> dict:
        info = asdict(self)
        del info["proteins"], info["folder"]
        info["force_field"] = "amber14-all + OBC2 (native GBSAOBCForce), no cutoff, HBonds"
        info["integrator"] = "LangevinMiddleIntegrator, reseeded every chunk from (replica seed, chunk)"
        return info


def _whole(value: float, name: str, unit_name: str) -> int:
    if abs(value - round(value)) > 1e-6 or round(value) < 1:
        raise CampaignError(f"{name} is not a whole multiple of {unit_name} ({value:g})")
    return int(round(value))


def chunk_seed(replica_seed: int, chunk: int) -> int:
    """The integrator seed of one chunk: deterministic, non-zero (0 would ask OpenMM for a random one)."""
    return (replica_seed * 1_000_003 + chunk * 7_919) % 2_147_483_646 + 1


@dataclass
class ReplicaRecord:
    """One replica as the manifest knows it; paths relative to the campaign folder."""

    protein: str
    replica: int
    seed: int
    start: str
    chunks_done: int = 0
    frames: int = 0
    ns_done: float = 0.0
    xtc_bytes: int = 0
    trajectory: str = ""
    restart: str = ""
    chunks_by_platform: dict = field(default_factory=dict)
    gaps: list = field(default_factory=list)  # [time (ps) of the frame before, frames missing] (``Manifest.audit``)

    @property
    def key(self) -> tuple[str, int]:
        return self.protein, self.replica

    @property
    def folder(self) -> str:
        return f"{self.protein}/replica_{self.replica:02d}"


def software_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    versions = {"openmm": openmm.version.full_version, "python": sys.version.split()[0]}
    try:
        versions["openmm-equijump"] = version("openmm-equijump")
    except PackageNotFoundError:
        versions["openmm-equijump"] = "source tree"
    return versions


class Manifest:
    """``manifest.yaml`` of a campaign folder: read, reconcile the files with it, rewrite atomically."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.path = campaign.folder / MANIFEST
        self.records: dict[tuple[str, int], ReplicaRecord] = {}
        self.software: list[dict] = []
        if self.path.exists():
            raw = yaml.safe_load(self.path.read_text()) or {}
            previous = raw.get("protocol", {})
            previous.setdefault("temperature_K", previous.get("temperature_k"))  # written so before 2026-12
            for key in ("temperature_K", "frame_ps", "chunk_ns", "timestep_fs", "friction_per_ps",
                        "hydrogen_mass_amu"):
                if previous.get(key) is not None and float(previous[key]) != float(getattr(campaign, key)):
                    raise CampaignError(
                        f"{self.path} was made with {key}={previous[key]}, the campaign file says "
                        f"{getattr(campaign, key)}; the protocol of a started campaign cannot change")
            self.software = list(raw.get("software", []))
            for entry in raw.get("replicas", []):
                record = ReplicaRecord(**entry)
                self.records[record.key] = record
        for plan in campaign.proteins:
            for i in range(plan.replicas):
                record = self.records.get((plan.name, i))
                if record is None:
                    record = ReplicaRecord(protein=plan.name, replica=i, seed=plan.seed + i, start=plan.start_of(i))
                    self.records[record.key] = record
                elif (record.seed, record.start) != (plan.seed + i, plan.start_of(i)):
                    raise CampaignError(
                        f"replica {i} of {plan.name} was started with seed {record.seed} from {record.start}; the "
                        f"campaign file now says seed {plan.seed + i} from {plan.start_of(i)}")

    def reconcile(self) -> None:
        """Drop what the manifest does not count: XTC bytes past its length, other restarts, temporaries."""
        folder = self.campaign.folder
        for record in self.records.values():
            replica_dir = folder / record.folder
            if not replica_dir.exists():
                continue
            xtc = replica_dir / "trajectory.xtc"
            if xtc.exists() and xtc.stat().st_size > record.xtc_bytes:
                os.truncate(xtc, record.xtc_bytes)
            for path in replica_dir.iterdir():
                if path.name.startswith("restart_") and path.name != Path(record.restart).name:
                    path.unlink()
                elif path.name.endswith(".tmp"):
                    path.unlink()

    def audit(self) -> list[str]:
        """Count the frames each replica's XTC holds and where frames are missing (the time between two frames
        longer than the frame interval: frames lost before the runner held a lock, see ``CampaignRunner``); the
        records take what the files hold. Returns one line per replica whose counts changed."""
        from mdtraj.formats import XTCTrajectoryFile

        changed = []
        for record in self.records.values():
            xtc = self.campaign.folder / record.folder / "trajectory.xtc"
            if not record.frames or not xtc.exists():
                continue
            with XTCTrajectoryFile(str(xtc)) as handle:
                _, time_ps, _, _ = handle.read()
            steps = frame_steps(time_ps, self.campaign.frame_ps)
            gaps = [[round(float(time_ps[i]), 3), int(steps[i] - 1)] for i in np.flatnonzero(steps != 1)]
            if len(time_ps) != record.frames or gaps != record.gaps:
                changed.append(f"{record.protein} replica {record.replica}: {len(time_ps)} frames in its XTC, "
                               f"{record.frames} counted; missing: {gaps or 'none'}")
                record.frames, record.gaps = len(time_ps), gaps
                record.ns_done = round(record.frames * self.campaign.frame_ps / 1000.0, 6)
        return changed

    def write(self) -> None:
        per_protein = {}
        for record in self.records.values():
            entry = per_protein.setdefault(record.protein, {"replicas": 0, "ns_done": 0.0})
            entry["replicas"] += 1
            entry["ns_done"] = round(entry["ns_done"] + record.ns_done, 6)
        data = {
            "protocol": self.campaign.protocol(),
            "software": self.software,
            "ns_done": per_protein,
            "replicas": [asdict(r) for r in sorted(self.records.values(), key=lambda r: r.key)],
        }
        tmp = self.path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
        os.replace(tmp, self.path)

    def note_software(self, platform: str) -> None:
        entry = {**software_versions(), "platform": platform}
        if entry not in self.software:
            self.software.append(entry)


@dataclass
class ChunkTask:
    """Everything a worker needs to run one chunk (picklable; absolute paths)."""

    folder: str
    protein: str
    replica: int
    chunk: int
    seed: int
    structure: str
    start: str
    restart: str
    campaign: dict
    platform: str
    properties: dict
    deadline: float  # time.time() after which the chunk is abandoned


@dataclass
class ChunkResult:
    task: ChunkTask
    frames: int
    xtc_tmp: str
    restart_tmp: str
    wall_s: float
    finished: bool


@lru_cache(maxsize=8)
def _system_and_topology(structure: str, hydrogen_mass_amu: float) -> tuple[str, app.Topology, list[int]]:
    pdb = app.PDBFile(structure)
    topology = pdb.topology
    topology.setPeriodicBoxVectors(None)  # prepared files carry a dummy CRYST1; the protocol has no box
    system = native_obc2_system(topology, hydrogen_mass_amu)
    heavy = [a.index for a in topology.atoms() if a.element is not None and a.element.symbol != "H"]
    return openmm.XmlSerializer.serialize(system), topology, heavy


def _start_positions(task: ChunkTask, topology: app.Topology):
    start = app.PDBFile(task.start)
    names = [(a.residue.index, a.name) for a in topology.atoms()]
    start_names = [(a.residue.index, a.name) for a in start.topology.atoms()]
    if names != start_names:
        raise CampaignError(f"start structure {task.start} does not have the atoms of {task.structure} in the same "
                            "order; rebuild it on that topology")
    return start.positions


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk of one replica into temporary files beside its restart; commit is the caller's."""
    began = time.time()
    c = task.campaign
    system_xml, topology, heavy = _system_and_topology(task.structure, c["hydrogen_mass_amu"])
    integrator = openmm.LangevinMiddleIntegrator(c["temperature_K"] * unit.kelvin,
                                                 c["friction_per_ps"] / unit.picosecond,
                                                 c["timestep_fs"] * unit.femtosecond)
    integrator.setRandomNumberSeed(chunk_seed(task.seed, task.chunk))
    simulation = app.Simulation(topology, openmm.XmlSerializer.deserialize(system_xml), integrator,
                                openmm.Platform.getPlatformByName(task.platform), task.properties)
    if task.chunk == 0:
        simulation.context.setPositions(_start_positions(task, topology))
        simulation.minimizeEnergy()
        simulation.context.setVelocitiesToTemperature(c["temperature_K"] * unit.kelvin, task.seed)
    else:
        simulation.context.setState(openmm.XmlSerializer.deserialize(Path(task.restart).read_text()))
    replica_dir = Path(task.folder)
    xtc_tmp = replica_dir / f"chunk_{task.chunk:04d}.xtc.tmp"
    restart_tmp = replica_dir / f"restart_{task.chunk + 1:04d}.xml.tmp"
    for stale in (xtc_tmp, restart_tmp):
        stale.unlink(missing_ok=True)
    # XTCFile rather than XTCReporter: the reporter numbers frames from its own creation, so every chunk
    # would restart the time at 0; here the first frame's step is the restart's step count + one frame.
    heavy_topology = app.Topology()
    residue = heavy_topology.addResidue("", heavy_topology.addChain())
    atoms = list(topology.atoms())
    for i in heavy:
        heavy_topology.addAtom(atoms[i].name, atoms[i].element, residue)
    xtc = app.XTCFile(str(xtc_tmp), heavy_topology, c["timestep_fs"] / 1000.0,
                      firstStep=simulation.context.getStepCount() + c["steps_per_frame"], interval=c["steps_per_frame"])
    frames = 0
    for frames in range(1, c["frames_per_chunk"] + 1):
        simulation.step(c["steps_per_frame"])
        positions_nm = simulation.context.getState(getPositions=True).getPositions(asNumpy=True)._value
        xtc.writeModel(positions_nm[heavy])
        if time.time() > task.deadline and frames < c["frames_per_chunk"]:
            return ChunkResult(task, frames, str(xtc_tmp), str(restart_tmp), time.time() - began, finished=False)
    state = simulation.context.getState(getPositions=True, getVelocities=True, getParameters=True, getEnergy=True)
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    if not np.isfinite(energy):
        raise CampaignError(f"replica {task.replica} of {task.protein} blew up in chunk {task.chunk} "
                            f"(potential energy {energy}); its last restart is kept")
    restart_tmp.write_text(openmm.XmlSerializer.serialize(state))
    return ChunkResult(task, frames, str(xtc_tmp), str(restart_tmp), time.time() - began, finished=True)


def frame_steps(time_ps: np.ndarray, frame_ps: float) -> np.ndarray:
    """(n - 1,) frame intervals between consecutive frames at times ``time_ps``: 1 where none is missing."""
    return np.round(np.diff(time_ps) / frame_ps).astype(int)


#: The lock file a runner holds (``fcntl.flock``) so that no second runner reconciles files under it.
LOCK_NAME = ".campaign.lock"


def _hold_lock(path: Path):
    """An open file holding an exclusive lock on ``path`` for as long as it is open; refuses, naming the holder,
    when another process holds it. A second runner would reconcile the files under the first one: delete the
    chunk it is writing (whose frames were then lost: ``Manifest.audit``)."""
    import fcntl

    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise CampaignError(f"{path.parent} is being advanced by {holder}; stop it first (--status reads the "
                            "manifest without stopping it)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()}\n")
    handle.flush()
    return handle


class CampaignRunner:
    """Advances a campaign: schedules chunks over workers and commits each finished one to the manifest. It
    holds the campaign folder's lock while it exists."""

    def __init__(self, campaign: Campaign, platform: str = "CPU", properties: dict | None = None):
        self.campaign, self.platform = campaign, platform
        self.properties = dict(properties or {})
        self._lock = _hold_lock(campaign.folder / LOCK_NAME)
        self.manifest = Manifest(campaign)
        self.manifest.reconcile()
        audit = self.manifest.audit()
        if audit:
            self.manifest.write()
            print("the manifest now counts the frames the files hold:\n  " + "\n  ".join(audit), file=sys.stderr)
        self.plans = {p.name: p for p in campaign.proteins}
        self.order = {p.name: i for i, p in enumerate(campaign.proteins)}
        for plan in campaign.proteins:
            self._write_heavy_topology(plan)

    def _write_heavy_topology(self, plan: ProteinPlan) -> None:
        path = self.campaign.folder / plan.name / "heavy_atoms.pdb"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        pdb = app.PDBFile(str(self.campaign.folder / plan.structure))
        modeller = app.Modeller(pdb.topology, pdb.positions)
        modeller.delete([a for a in modeller.topology.atoms() if a.element is not None and a.element.symbol == "H"])
        modeller.topology.setPeriodicBoxVectors(None)
        with open(path, "w") as f:
            app.PDBFile.writeFile(modeller.topology, modeller.positions, f, keepIds=True)

    def pending(self, busy: set) -> list[ReplicaRecord]:
        """Unfinished replicas not running now, earliest protein first, then fewest chunks."""
        todo = [r for r in self.manifest.records.values()
                if r.protein in self.plans and r.key not in busy
                and r.chunks_done < self.campaign.chunks_of(self.plans[r.protein])]
        return sorted(todo, key=lambda r: (self.order[r.protein], r.chunks_done, r.replica))

    def task(self, record: ReplicaRecord, deadline: float, platform: str | None = None) -> ChunkTask:
        folder = self.campaign.folder
        (folder / record.folder).mkdir(parents=True, exist_ok=True)
        c = self.campaign
        settings = {k: getattr(c, k) for k in ("temperature_K", "timestep_fs", "friction_per_ps", "hydrogen_mass_amu")}
        settings.update(steps_per_frame=c.steps_per_frame, frames_per_chunk=c.frames_per_chunk)
        return ChunkTask(
            folder=str(folder / record.folder), protein=record.protein, replica=record.replica,
            chunk=record.chunks_done, seed=record.seed,
            structure=str(folder / self.plans[record.protein].structure), start=str(folder / record.start),
            restart=str(folder / record.restart) if record.restart else "", campaign=settings,
            platform=platform or self.platform,
            properties=self.properties if (platform or self.platform) == self.platform else platform_properties(platform, 1),
            deadline=deadline)

    def commit(self, result: ChunkResult) -> None:
        """Append the chunk's frames, move its restart into place, then count it in the manifest."""
        task = result.task
        record = self.manifest.records[(task.protein, task.replica)]
        xtc_tmp, restart_tmp = Path(result.xtc_tmp), Path(result.restart_tmp)
        if not result.finished:
            xtc_tmp.unlink(missing_ok=True)
            restart_tmp.unlink(missing_ok=True)
            return
        from mdtraj.formats import XTCTrajectoryFile

        with XTCTrajectoryFile(str(xtc_tmp)) as handle:
            written = len(handle)
        if written != result.frames:  # never commit a chunk whose file lost frames; it runs again
            xtc_tmp.unlink(missing_ok=True)
            restart_tmp.unlink(missing_ok=True)
            print(f"{task.protein} replica {task.replica}, chunk {task.chunk}: its XTC holds {written} of "
                  f"{result.frames} frames; discarded, it runs again", file=sys.stderr)
            return
        replica_dir = self.campaign.folder / record.folder
        xtc = replica_dir / "trajectory.xtc"
        with open(xtc, "ab") as out:
            out.truncate(record.xtc_bytes)
            out.write(xtc_tmp.read_bytes())
        restart = replica_dir / restart_tmp.name[: -len(".tmp")]
        os.replace(restart_tmp, restart)
        old_restart = record.restart
        record.chunks_done += 1
        record.frames += result.frames
        record.ns_done = round(record.frames * self.campaign.frame_ps / 1000.0, 6)
        record.xtc_bytes = xtc.stat().st_size
        record.trajectory = f"{record.folder}/trajectory.xtc"
        record.restart = f"{record.folder}/{restart.name}"
        record.chunks_by_platform[task.platform] = record.chunks_by_platform.get(task.platform, 0) + 1
        self.manifest.note_software(task.platform)
        self.manifest.write()
        xtc_tmp.unlink()
        if old_restart and old_restart != record.restart:
            (self.campaign.folder / old_restart).unlink(missing_ok=True)

    def run(self, workers: int = 1, stop_after_minutes: float | None = None, max_chunks: int | None = None,
            progress: bool = True, cpu_workers: int = 0) -> dict:
        """Run chunks until the campaign is done, ``stop_after_minutes`` passed (running chunks are abandoned
        at that moment) or ``max_chunks`` were committed. ``workers`` processes use the runner's platform and
        ``cpu_workers`` more use the CPU platform with one thread each (a GPU node: a few processes keep the
        GPU busy, the other cores run chunks of their own). Returns what this invocation did."""
        deadline = time.time() + stop_after_minutes * 60.0 if stop_after_minutes else float("inf")
        total_ns = sum(self.campaign.chunks_of(p) * p.replicas * self.campaign.chunk_ns for p in self.campaign.proteins)
        done_ns = sum(r.ns_done for r in self.manifest.records.values() if r.protein in self.plans)
        committed, simulated_ns, began = 0, 0.0, time.time()
        bar = tqdm(total=round(total_ns, 3), initial=round(done_ns, 3), unit="ns", desc="campaign", disable=not progress)

        def accept(result: ChunkResult) -> None:
            nonlocal committed, simulated_ns
            self.commit(result)
            if result.finished:
                committed += 1
                simulated_ns += self.campaign.chunk_ns
                bar.update(self.campaign.chunk_ns)

        def more() -> bool:
            return time.time() < deadline and (max_chunks is None or committed < max_chunks)

        slots = {self.platform: workers, **({"CPU": cpu_workers} if cpu_workers else {})}
        if self.platform == "CPU" and cpu_workers:
            slots = {"CPU": workers + cpu_workers}
        if sum(slots.values()) <= 1:
            while more() and (todo := self.pending(set())):
                accept(run_chunk(self.task(todo[0], deadline)))
        else:
            pools = {name: ProcessPoolExecutor(n, mp_context=get_context("spawn")) for name, n in slots.items()}
            running: dict = {}  # future -> (replica key, platform)
            try:
                while True:
                    for name, n in slots.items():
                        while (more() and sum(p == name for _, p in running.values()) < n
                               and (todo := self.pending({k for k, _ in running.values()}))):
                            future = pools[name].submit(run_chunk, self.task(todo[0], deadline, name))
                            running[future] = (todo[0].key, name)
                    if not running:
                        break
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        running.pop(future)
                        accept(future.result())
            finally:
                for pool in pools.values():
                    pool.shutdown(cancel_futures=True)
        bar.close()
        wall = time.time() - began
        return {"chunks": committed, "simulated_ns": simulated_ns, "wall_s": wall,
                "ns_per_day": simulated_ns / wall * 86400.0 if committed else None}


def campaign_trajectories(campaign: Campaign, protein: str, drop_burn_in: bool = True,
                          replicas: Optional[Sequence[int]] = None) -> list:
    """The protein's replicas (all, or those numbered in ``replicas``) as mdtraj trajectories (heavy atoms, nm),
    exactly the frames the manifest counts, without the first ``campaign.burn_in_ns`` when ``drop_burn_in``;
    replicas with nothing left are skipped. A replica with missing frames (``ReplicaRecord.gaps``) comes as one
    trajectory per stretch without a gap, so that no analysis takes the gap for one frame interval. Each
    trajectory's ``replica`` attribute is its replica number."""
    import mdtraj

    plans = {p.name: p for p in campaign.proteins}
    if protein not in plans:
        raise CampaignError(f"the campaign has no protein {protein!r}; it has {list(plans)}")
    wanted = set(range(plans[protein].replicas)) if replicas is None else set(replicas)
    if not wanted <= set(range(plans[protein].replicas)):
        raise CampaignError(f"{protein} has replicas 0-{plans[protein].replicas - 1}; "
                            f"no replica {sorted(wanted - set(range(plans[protein].replicas)))}")
    manifest = Manifest(campaign)
    topology = mdtraj.load_topology(str(campaign.folder / protein / "heavy_atoms.pdb"))
    burn_in_ps = campaign.burn_in_ns * 1000.0 if drop_burn_in else 0.0
    trajectories = []
    for record in sorted(manifest.records.values(), key=lambda r: r.key):
        if record.protein != protein or record.replica not in wanted or not record.frames:
            continue
        # only the frames the manifest counts: a running campaign may be appending a chunk to the file
        with mdtraj.formats.XTCTrajectoryFile(str(campaign.folder / record.trajectory)) as handle:
            traj = handle.read_as_traj(topology, n_frames=record.frames)
        # the burn-in by time (a replica's clock starts at 0), so that a gap inside it lets no frame of it through
        traj = traj[np.flatnonzero(traj.time > burn_in_ps + 1e-3 * campaign.frame_ps)]
        breaks = np.flatnonzero(frame_steps(traj.time, campaign.frame_ps) != 1) + 1
        for frames in np.split(np.arange(traj.n_frames), breaks):
            if len(frames) > 1:
                trajectories.append(traj[frames])
                trajectories[-1].replica = record.replica
    return trajectories


def export_trajectories(campaign: Campaign, protein: str, folder: str | Path,
                        replicas: Optional[Sequence[int]] = None, drop_burn_in: bool = True) -> list[Path]:
    """Write ``campaign_trajectories`` into ``folder``: ``heavy_atoms.pdb`` and one XTC per stretch
    (``replica_<ii>.xtc``; ``replica_<ii>_<k>.xtc`` for the stretches of a replica with gaps), times in ps as
    the campaign wrote them. Returns the paths written."""
    import shutil

    folder = Path(folder)
    stale = sorted(folder.glob("replica_*.xtc"))
    if stale:  # a glob over the folder would count both exports
        raise CampaignError(f"{folder} already holds exported trajectories ({stale[0].name}, ...); export into an "
                            "empty folder or remove them first")
    trajectories = campaign_trajectories(campaign, protein, drop_burn_in, replicas)
    if not trajectories:
        raise CampaignError(f"the campaign has no {protein} frames to export"
                            + (f" past its {campaign.burn_in_ns:g} ns burn-in" if drop_burn_in else ""))
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "heavy_atoms.pdb"]
    shutil.copyfile(campaign.folder / protein / "heavy_atoms.pdb", written[0])
    for replica, stretches in groupby(trajectories, key=lambda t: t.replica):  # in replica order
        stretches = list(stretches)
        for k, traj in enumerate(stretches):
            written.append(folder / (f"replica_{replica:02d}" + (f"_{k}" if len(stretches) > 1 else "") + ".xtc"))
            traj.save_xtc(str(written[-1]))
    return written


def platform_properties(platform: str, threads: int) -> dict:
    if platform == "CPU":
        return {"Threads": str(threads)} if threads else {}
    if platform in ("CUDA", "OpenCL", "HIP"):
        return {"Precision": "mixed"}
    return {}
