"""Trajectory files: the frame interval of any file mdtraj reads (``frame_interval_ps``), a DCD's frame count,
and cutting a DCD and its StateDataReporter log back after an interruption.

mdtraj reports a DCD's time as the frame index and ignores the header, so a DCD's interval is read from its
header: the integration time step (AKMA units) times the number of steps between saved frames. Other formats
(XTC, TRR, NetCDF, HDF5) carry times, and their spacing is the interval. The trainer and the analysis both
read intervals through ``frame_interval_ps``.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import EquiJumpError

#: One AKMA time unit in ps (the unit of a DCD header's time step).
AKMA_TIME_PS = 0.04888821


class TrajectoryFileError(EquiJumpError, ValueError):
    """A trajectory file that is not what its name says (a .dcd without a DCD header)."""


def _dcd_head(path: str | Path) -> tuple[str, bytes]:
    """(byte order, the 92-byte first header record) of the DCD file ``path``, or TrajectoryFileError."""
    with open(path, "rb") as handle:
        head = handle.read(92)
    for order in "<>":
        if len(head) == 92 and struct.unpack(order + "i", head[:4])[0] == 84 and head[4:8] == b"CORD":
            return order, head
    raise TrajectoryFileError(f"{path}: not a DCD file (no 84-byte 'CORD' header record)")


def dcd_header_interval_ps(path: str | Path) -> float | None:
    """The frame interval (ps) in the header of the DCD file ``path``, or None when it records none.

    CHARMM/NAMD/OpenMM (float32 time step) and X-PLOR (float64) headers in either byte order. A zero step, or
    the placeholder that mdtraj and VMD write (1 AKMA unit, 1 step per frame), records no interval. The value
    is rounded to 6 significant digits: the header's float32 reads 4 fs as 4.0000000119 fs, and 10 ps must
    read as 10.0. Raises TrajectoryFileError when ``path`` is not a DCD file.
    """
    order, head = _dcd_head(path)
    control = head[8:88]  # 20 int32 words
    steps_per_frame = struct.unpack(order + "i", control[8:12])[0]
    charmm_version = struct.unpack(order + "i", control[76:80])[0]
    if charmm_version:
        timestep_akma = struct.unpack(order + "f", control[36:40])[0]
    else:
        timestep_akma = struct.unpack(order + "d", control[36:44])[0]
    if not (steps_per_frame > 0 and timestep_akma > 0) or (steps_per_frame, timestep_akma) == (1, 1.0):
        return None
    return float(f"{steps_per_frame * timestep_akma * AKMA_TIME_PS:.6g}")


def interval_from_times(times: Optional[np.ndarray]) -> Optional[float]:
    """The uniform spacing of ``times`` (ps), or None when they do not define one."""
    if times is None or len(times) < 2:
        return None
    times = np.asarray(times, dtype=np.float64)
    if np.array_equal(times, np.arange(len(times))):
        # 0, 1, 2, ...: frame indices, as mdtraj writes when it converts a DCD (whose times it reads as indices)
        # to XTC/NetCDF/HDF5; taking them as ps would make every lag wrong. Unknown: the caller asks for frame_ps.
        return None
    spacing = np.diff(times)
    interval = float(f"{float(np.median(spacing)):.6g}")  # XTC times are float32: 10 ps must read as 10.0
    # Stored times are rounded: allow a relative slack, not irregular sampling.
    if interval <= 0 or np.max(np.abs(spacing - interval)) > 1e-3 * interval + 1e-4:
        return None
    return interval


def missing_frames(times: Optional[np.ndarray]) -> Optional[str]:
    """Where frames are missing from increasing times (ps) that are evenly spaced at their smallest step except
    for whole multiples of it, as a phrase for an error message; None when none are missing or the times are not
    of that kind (a time that restarts, irregular sampling)."""
    if times is None or len(times) < 3:
        return None
    times = np.asarray(times, dtype=np.float64)
    spacing = np.diff(times)
    if (spacing <= 0).any():
        return None
    interval = float(spacing.min())
    # XTC stores times as float32: at 10 ns a 0.2 ps step is off by up to a few 1e-4 ps
    slack = 1e-3 * interval + 4 * float(np.spacing(np.float32(np.abs(times).max())))
    steps = np.round(spacing / interval)
    if (np.abs(spacing - steps * interval) > slack * steps).any() or not (steps > 1).any():
        return None
    gaps = np.flatnonzero(steps > 1)
    interval = float(f"{np.median(spacing[steps == 1]):.4g}")
    return (f"{int((steps - 1).sum())} frame(s) are missing in {len(gaps)} gap(s) (frames {interval:g} ps apart; "
            f"the first gap from {times[gaps[0]]:g} ps to {times[gaps[0] + 1]:g} ps)")


def missing_frames_message(path: str | Path, times: Optional[np.ndarray]) -> Optional[str]:
    """The error for trajectory file ``path`` whose ``times`` (ps, as mdtraj read them) show missing frames, or
    None (always for a DCD, whose times mdtraj counts in frames). Pairs and lags across such a gap would be
    wrong with or without a frame interval given, so training and the analysis refuse the file."""
    gap = None if Path(path).suffix.lower() == ".dcd" else missing_frames(times)
    return None if gap is None else (f"{path}: {gap}; split the file where frames are missing (`python -m "
                                     "openmm_equijump.campaign FILE --export` does so for a campaign's replicas)")


def frame_interval_ps(path: str | Path, times: Optional[np.ndarray] = None) -> Optional[float]:
    """The frame interval (ps) that trajectory file ``path`` records, or None when it records none.

    DCD: from the header (``times`` ignored: mdtraj's are frame indices). Other formats: the spacing of
    ``times``, the times mdtraj read from the file (pass None for formats that carry no time).
    """
    if Path(path).suffix.lower() == ".dcd":
        return dcd_header_interval_ps(path)
    return interval_from_times(times)


def truncate_dcd(path: Path, frames: int) -> None:
    """Cut an OpenMM-written DCD back to its first ``frames`` frames (after an interruption).

    OpenMM's ``DCDFile`` keeps the frame count at byte 8 and the last step at byte 20 of the header, and
    every frame has the same size, so the file can be cut without rewriting it.
    """
    with open(path, "r+b") as f:
        header = f.read(100)
        if len(header) < 100 or header[4:8] != b"CORD":
            raise TrajectoryFileError(f"{path} is not a DCD file")
        count, first_step, interval = struct.unpack("<iii", header[8:20])
        if count <= frames:
            return
        f.seek(92)
        (title_bytes,) = struct.unpack("<i", f.read(4))
        # 92-byte first block, the title block, then the 12-byte atom-count block; frames follow, equal in size
        header_size = 92 + 4 + title_bytes + 4 + 12
        frame_size = (os.path.getsize(path) - header_size) // count
        f.truncate(header_size + frames * frame_size)
        f.seek(8)
        f.write(struct.pack("<i", frames))
        f.seek(20)
        f.write(struct.pack("<i", first_step + (frames - 1) * interval))


def dcd_frame_count(path: str | Path) -> int:
    """The number of frames a DCD file's header records (0 for a header-only file); TrajectoryFileError when
    ``path`` is not a DCD file."""
    order, head = _dcd_head(path)
    return struct.unpack(order + "i", head[8:12])[0]


def truncate_log(path: Path, last_step: int) -> None:
    """Cut a StateDataReporter CSV (step first) back to its rows up to ``last_step``, header kept, so that a
    resumed run does not repeat the rows written after its checkpoint; a row cut off mid-write goes too."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines(keepends=True):
        step = line.split(",", 1)[0]
        if line.startswith("#") or (line.endswith("\n") and step.isdigit() and int(step) <= last_step):
            kept.append(line)
    path.write_text("".join(kept))
