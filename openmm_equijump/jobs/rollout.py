"""Rollouts of a jump module and the files they leave: one ``Simulation`` per replica (``run_replica``), a
batch of replicas per call of the module (``run_batch``), or frames already in memory (``write_dcds``).

Every replica writes ``replica_<r>.dcd`` (one frame per jump; the header carries the jump interval); the
``Simulation`` and the batch also write ``replica_<r>.csv`` as StateDataReporter does. A replica whose jump
turns non-finite stops there and keeps its frames so far.

Both resume an interrupted replica, as ``md`` does: the ``Simulation`` writes an OpenMM checkpoint
``replica_<r>.chk`` after every chunk of jumps, the batch ``replica_<r>.npz`` (float32 positions after the last
jump, and the jump count) after every jump; a rerun loads it, cuts the DCD and CSV back to it, and continues:
exactly, except for a stateful jump module (a walk-jump chain, DiffMD's previous frames, a block of frames) in a
batch, whose state the npz does not hold: it is initialized again, as the plugin does for positions it did not
write (a block is sampled afresh). The ``Simulation``'s checkpoint holds the state and continues exactly.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
from tqdm import tqdm

from ..runtime.replicas import iterate_replicas
from ..trajectory_files import truncate_dcd, truncate_log

if TYPE_CHECKING:
    from .simulate import SimulateConfig

#: The progress bar is refreshed after chunks of jumps that take about this long (at least one jump each).
CHUNK_SECONDS = 1.0


def run_replica(index: int, config: "SimulateConfig", topology: app.Topology, positions, system: openmm.System,
                jump_module, platform: str, out: Path, bar: tqdm) -> dict:
    """Jump one replica ``config.jumps`` times in an ``openmm.app.Simulation`` with reporters attached.

    Returns the record of this batch of one: timings (s) of the setup (System, Context, the plugin reading the
    module), the first jump and all jumps including the first, and per replica the jumps done and the jump
    at which it blew up (None if it did not)."""
    from ..runtime.integrator import EquiJumpIntegrator  # the compiled plugin, loaded only when a Simulation runs

    setup = time.perf_counter()
    integrator = EquiJumpIntegrator(jump_module, temperature=config.temperature_K, seed=config.seed + index,
                                    device=config.device, threads=config.threads)
    simulation = app.Simulation(topology, system, integrator,
                                openmm.Platform.getPlatformByName(platform))
    checkpoint = out / f"replica_{index}.chk"
    resuming = checkpoint.is_file()
    if resuming:
        simulation.loadCheckpoint(str(checkpoint))
        cut_back(out, index, simulation.currentStep)
    else:
        simulation.context.setPositions(positions)
    simulation.reporters.append(app.DCDReporter(str(out / f"replica_{index}.dcd"), 1, append=resuming))
    simulation.reporters.append(app.StateDataReporter(
        str(out / f"replica_{index}.csv"), 1, step=True, time=True, potentialEnergy=True, temperature=True,
        speed=True, append=resuming))
    setup_s = time.perf_counter() - setup
    start = time.perf_counter()
    done = simulation.currentStep
    before, chunk, first_jump_s, blown_up_at = done, 1, None, None
    bar.update(done)
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
        simulation.saveCheckpoint(str(checkpoint))
        done += chunk
        bar.update(chunk)
        per_jump = (time.perf_counter() - started) / chunk
        chunk = max(1, int(CHUNK_SECONDS / max(per_jump, 1e-6)))
    return {"setup_s": setup_s, "first_jump_s": first_jump_s or 0.0,
            "jumps_s": time.perf_counter() - start, "jumps_done": [simulation.currentStep],
            "jumps_run": [simulation.currentStep - before], "blown_up_at_jump": [blown_up_at]}


def cut_back(out: Path, index: int, jumps: int) -> None:
    """Replica ``index``'s DCD and CSV cut back to its first ``jumps`` jumps, where its checkpoint stands: what an
    interrupted run wrote after it is made again, not repeated."""
    truncate_dcd(out / f"replica_{index}.dcd", jumps)
    truncate_log(out / f"replica_{index}.csv", jumps)


def batch_progress(out: Path, index: int) -> tuple[int, Optional[np.ndarray]]:
    """(jumps done, float32 positions (n_atoms, 3) nm after the last) of batched replica ``index``, from its
    ``replica_<index>.npz``; (0, None) for a replica not started."""
    path = out / f"replica_{index}.npz"
    if not path.is_file():
        return 0, None
    with np.load(path) as saved:
        return int(saved["jumps"]), saved["positions"]


def save_batch_progress(out: Path, index: int, jumps: int, positions: np.ndarray) -> None:
    """``replica_<index>.npz``, replaced atomically: an interruption leaves the previous one whole."""
    partial = out / f"replica_{index}.partial.npz"
    np.savez(partial, jumps=jumps, positions=positions)
    os.replace(partial, out / f"replica_{index}.npz")


def report_blow_up(index: int, jumps_done: int) -> None:
    print(f"replica {index}: the model blew up at jump {jumps_done + 1} (non-finite positions); "
          f"its {jumps_done} jumps so far are kept", file=sys.stderr)


#: The columns of a batched replica's CSV log: StateDataReporter's, without the temperature (no velocities).
BATCH_LOG_COLUMNS = ("Step", "Time (ps)", "Potential Energy (kJ/mole)", "Speed (ns/day)")


def run_batch(indices: list[int], config: "SimulateConfig", topology: app.Topology, positions,
              energy_context: openmm.Context, jump_module, out: Path, bar: tqdm) -> dict:
    """Jump the replicas ``indices`` together up to ``config.jumps`` jumps, one call of the jump module per jump
    (``runtime.replicas.iterate_replicas``), and write each replica's DCD and CSV as ``run_replica``'s reporters do.
    Replicas resumed at different jumps (one blew up earlier) run in groups, one per jump count.

    energy_context: a Context of the System, shared by all replicas, that evaluates the potential energy of
    each frame. Returns the batch's record (see ``run_replica``); setup is opening the files."""
    setup = time.perf_counter()
    jump_ps = float(jump_module.jump_ps)
    start_nm = np.asarray(positions.value_in_unit(unit.nanometer), dtype=np.float32)
    progress = {r: batch_progress(out, r) for r in indices}
    jumps_done = {r: progress[r][0] for r in indices}
    before = dict(jumps_done)
    blown_up_at: dict[int, Optional[int]] = {r: None for r in indices}
    bar.update(sum(before.values()))
    with ExitStack() as files:
        handles, dcds, logs = {}, {}, {}
        for r in indices:
            resuming = jumps_done[r] > 0
            if resuming:
                cut_back(out, r, jumps_done[r])
            handles[r] = files.enter_context(open(out / f"replica_{r}.dcd", "r+b" if resuming else "wb"))
            dcds[r] = app.DCDFile(handles[r], topology, jump_ps * unit.picosecond, 1, 1, append=resuming)
            logs[r] = files.enter_context(open(out / f"replica_{r}.csv", "a" if resuming else "w"))
            if not resuming:
                print('#"' + '","'.join(BATCH_LOG_COLUMNS) + '"', file=logs[r], flush=True)
        setup_s = time.perf_counter() - setup
        start = time.perf_counter()
        first_jump_s = None
        for first_step in sorted({jumps_done[r] for r in indices if jumps_done[r] < config.jumps}):
            group = [r for r in indices if jumps_done[r] == first_step]
            starts = np.stack([start_nm if progress[r][1] is None else progress[r][1] for r in group])
            frames = iterate_replicas(jump_module, starts, config.jumps - first_step,
                                      [config.seed + r for r in group], first_step=first_step, progress=False,
                                      keep_going=True)
            group_start = time.perf_counter()
            for step, frame in enumerate(frames, start=first_step + 1):
                elapsed_days = (time.perf_counter() - group_start) / 86400.0
                for i, r in enumerate(group):
                    if blown_up_at[r] is not None:
                        continue
                    if not np.isfinite(frame[i]).all():
                        blown_up_at[r] = step - 1
                        report_blow_up(r, step - 1)
                        continue
                    dcds[r].writeModel(frame[i] * unit.nanometer)
                    energy_context.setPositions(frame[i])
                    energy = energy_context.getState(getEnergy=True).getPotentialEnergy()
                    print(f"{step},{step * jump_ps},{energy.value_in_unit(unit.kilojoule_per_mole)},"
                          f"{(step - first_step) * jump_ps / 1000.0 / elapsed_days:.3g}", file=logs[r], flush=True)
                    handles[r].flush()  # the frame is on disk before the progress file counts it
                    save_batch_progress(out, r, step, frame[i])
                    jumps_done[r] = step
                if first_jump_s is None:
                    first_jump_s = time.perf_counter() - start
                bar.update(len(group))
    return {"setup_s": setup_s, "first_jump_s": first_jump_s or 0.0, "jumps_s": time.perf_counter() - start,
            "jumps_done": [jumps_done[r] for r in indices],
            "jumps_run": [jumps_done[r] - before[r] for r in indices],
            "blown_up_at_jump": [blown_up_at[r] for r in indices]}


def write_dcds(out: Path, topology: app.Topology, frames: np.ndarray, jump_ps: float,
               name: str = "replica") -> list[Path]:
    """``out``/<name>_<r>.dcd of each replica of ``frames`` (R, jumps, n_atoms, 3) nm, its finite frames only
    (a replica that blew up keeps its frames before), ``jump_ps`` apart; returns the paths written (none for a
    replica with no finite frame)."""
    paths = []
    for r, replica in enumerate(frames):
        finite = replica[np.isfinite(replica).all(axis=(1, 2))]
        if len(finite) == 0:
            continue
        path = out / f"{name}_{r}.dcd"
        with open(path, "wb") as handle:
            dcd = app.DCDFile(handle, topology, jump_ps * unit.picosecond)
            for x in finite:
                dcd.writeModel(x * unit.nanometer)
        paths.append(path)
    return paths
