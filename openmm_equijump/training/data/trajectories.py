"""Reading users' topologies and trajectories into tensor clouds, with their frame interval.

Everything that mdtraj reads works: topologies in PDB, PSF, GRO, prmtop (and anything else
``mdtraj.load_topology`` takes) and trajectories in DCD, XTC, TRR, NetCDF, HDF5 (needs PyTables), with
Amber, CHARMM or GROMACS naming (the protein layer, ``openmm_equijump.protein.topology``, maps names).
Water and monatomic ions are stripped here; anything else that is not protein is refused by the
protein layer with the residue it could not place.

Frame interval rules (``resolved_frame_interval_ps``):
- DCD: mdtraj reports a DCD's time as the frame index, so the header is read here instead:
  time step (AKMA units) x steps between frames.
- XTC, TRR, NetCDF, HDF5 and other formats with times: the (uniform) spacing of the stored times.
- A user-given interval (``--frame-ps``) overrides the file; it is required where the file has none
  (a DCD without a time step, times that are absent, constant or irregular), and nothing is guessed.

Frame cache (``load_protein(..., cache_dir=...)``, what training uses): each trajectory's tensor clouds and
times are written once as ``.npy`` files into ``cache_dir`` and then memory-mapped, so that the frames stay on
disk (in the page cache, shared by the processes of a distributed run) instead of in each process's memory;
a batch reads only its own frames. An entry is keyed by the trajectory's and the topology's paths, sizes and
modification times: a changed file is read again.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mdtraj
import numpy as np
import torch

from ...errors import EquiJumpError
from ...trajectory_files import frame_interval_ps as file_frame_interval_ps, missing_frames_message
from ...protein.tensorcloud import TensorCloudMap
from ...protein.topology import ProteinBinding, TopologyError, bind_topology

# Monatomic ions stripped together with water, by element or by residue name (GRO files carry no elements,
# and mdtraj guesses "NA" as nitrogen; CHARMM calls them SOD, CLA, POT, CAL).
ION_ELEMENTS = frozenset("Li Na K Rb Cs Mg Ca Sr Ba Zn Mn Fe Co Ni Cu Cd F Cl Br I".split())
ION_RESIDUE_NAMES = frozenset(
    "LI NA K RB CS MG CA SR BA ZN MN FE CO NI CU CD F CL BR I IOD SOD CLA POT CAL CES LIT RUB ZN2 MG2".split())
# Frames converted to tensor clouds at once (bounds the memory of explicit-solvent trajectories).
CHUNK_FRAMES = 1000
# Part of every frame-cache key: raise it when the cached arrays change meaning.
_CACHE_FORMAT = 1


class TrajectoryError(EquiJumpError, ValueError):
    """A trajectory (or its topology) cannot be used for training; the message names the file."""


@dataclass
class CloudTrajectory:
    """One trajectory of one protein as tensor clouds (Angstrom).

    P: (T, N, 3) C-alpha positions; V: (T, N, 13, 3) anchor-to-atom vectors, zero where the slot is empty
    (in memory, or memory-mapped from the frame cache).
    """

    path: Path
    frame_ps: float
    P: torch.Tensor
    V: torch.Tensor

    @property
    def n_frames(self) -> int:
        return self.P.shape[0]


@dataclass
class ProteinData:
    """A protein (one topology) and its trajectories.

    residue_types: (N,) int64 indices into ``protein.vocabulary.VOCABULARY``; mask: (N, 13) bool, True for real atoms.
    """

    name: str
    topology_path: Path
    binding: ProteinBinding
    residue_types: torch.Tensor
    mask: torch.Tensor
    trajectories: list[CloudTrajectory]

    @property
    def n_residues(self) -> int:
        return self.residue_types.shape[0]


def is_solvent_or_ion(residue: mdtraj.core.topology.Residue) -> bool:
    """Water, or a residue made of one atom of an ion-forming element (Na+, Cl-, Mg2+, ...)."""
    if residue.is_water:
        return True
    if residue.n_atoms != 1:
        return False
    element = residue.atom(0).element
    name = residue.name.upper().rstrip("+-0123456789") or residue.name.upper()
    return name in ION_RESIDUE_NAMES or (element is not None and element.symbol in ION_ELEMENTS)


def load_topology(path: str | Path) -> mdtraj.Topology:
    """The full topology of ``path`` (every atom, as the trajectories store them)."""
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"topology {path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unlikely unit cell vectors")
            return mdtraj.load_topology(str(path))
    except Exception as error:  # mdtraj raises many types for unreadable files
        raise TrajectoryError(f"topology {path}: mdtraj cannot read it ({error})") from error


def resolved_frame_interval_ps(path: str | Path, times: np.ndarray | None, override_ps: float | None) -> float:
    """The frame interval of trajectory ``path`` in ps, following the rules in the module docstring.

    ``times``: the times mdtraj read from the file (ignored for DCD). Raises TrajectoryError when unknown.
    """
    path = Path(path)
    gap = missing_frames_message(path, times)
    if gap:
        raise TrajectoryError(f"trajectory {gap}")
    from_file = file_frame_interval_ps(path, times)
    if override_ps is not None:
        if override_ps <= 0:
            raise TrajectoryError(f"trajectory {path}: frame interval must be positive, got {override_ps} ps")
        if from_file is not None and not np.isclose(from_file, override_ps, rtol=1e-3):
            warnings.warn(f"trajectory {path}: the file says {from_file:g} ps per frame; using the given "
                          f"{override_ps:g} ps", stacklevel=2)
        return float(override_ps)
    if from_file is None:
        raise TrajectoryError(
            f"trajectory {path}: the file does not say how far apart its frames are in time "
            f"(no time step in a DCD header, or no regular times); give it with --frame-ps "
            f"(or frame_ps in the dataset config)")
    return from_file


def _atoms_in_file(path: Path) -> int | None:
    """How many atoms each frame of ``path`` holds, or None for an empty or unreadable file."""
    try:
        with mdtraj.open(str(path)) as handle:
            first = handle.read(n_frames=1)
    except Exception:  # let the full load report what is wrong
        return None
    arrays = first if isinstance(first, tuple) else (getattr(first, "coordinates", None),)
    for array in arrays:
        if isinstance(array, np.ndarray) and array.ndim == 3 and array.shape[0] > 0:
            return array.shape[1]
    return None


def read_trajectory(path: str | Path, topology: mdtraj.Topology, topology_path: Path,
                    keep: np.ndarray) -> mdtraj.Trajectory:
    """Frames of ``path`` restricted to atoms ``keep`` (positions in nm), after checking they fit."""
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"trajectory {path}: no such file")
    n_atoms = _atoms_in_file(path)
    if n_atoms is not None and n_atoms != topology.n_atoms:
        raise TrajectoryError(
            f"trajectory {path} has {n_atoms} atoms per frame but topology {topology_path} has "
            f"{topology.n_atoms}: they do not describe the same system (was the trajectory written "
            f"with solvent, or without hydrogens?)")
    try:
        return mdtraj.load(str(path), top=topology, atom_indices=keep)
    except ImportError as error:
        found = re.search(r"requires the python module (\w+)", str(error))
        module = found.group(1) if found else "that reads this format"
        install = {"PyTables": "pip install tables"}.get(module, "pip install it")
        raise TrajectoryError(f"trajectory {path}: mdtraj needs the Python package {module} to read "
                              f"{path.suffix} files ({install}, or convert the file to DCD or XTC)") from error
    except Exception as error:
        raise TrajectoryError(f"trajectory {path}: mdtraj cannot read it with topology {topology_path} "
                              f"({error})") from error


def _to_cloud(cloud_map: TensorCloudMap, xyz_nm: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, n_atoms, 3) nm -> P (T, N, 3), V (T, N, 13, 3) Angstrom, chunked."""
    P_chunks, V_chunks = [], []
    with torch.no_grad():
        for start in range(0, len(xyz_nm), CHUNK_FRAMES):
            P, V = cloud_map.to_cloud(torch.from_numpy(np.ascontiguousarray(xyz_nm[start:start + CHUNK_FRAMES])))
            P_chunks.append(P.float())
            V_chunks.append(V.float())
    return torch.cat(P_chunks), torch.cat(V_chunks)


def _read_cloud(path: Path, topology: mdtraj.Topology, topology_path: Path, keep: np.ndarray,
                cloud_map: TensorCloudMap) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Trajectory ``path`` checked (frames, finite coordinates) as tensor clouds P, V and its times (ps)."""
    frames = read_trajectory(path, topology, topology_path, keep)
    if frames.n_frames == 0:
        raise TrajectoryError(f"trajectory {path}: holds no frames")
    finite = np.isfinite(frames.xyz).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise TrajectoryError(f"trajectory {path}: non-finite (NaN or inf) coordinates in {bad.size} "
                              f"frame(s), first at frame {bad[0]}; remove or repair those frames")
    P, V = _to_cloud(cloud_map, frames.xyz)
    return P, V, np.asarray(frames.time, dtype=np.float64)


def _cache_entry(cache_dir: Path, path: Path, topology_path: Path) -> Path:
    """The cache folder of trajectory ``path`` read with ``topology_path`` (see the module docstring)."""
    key = [_CACHE_FORMAT]
    for file in (path, topology_path):
        stat = file.stat()
        key += [str(file.resolve()), stat.st_size, stat.st_mtime_ns]
    return cache_dir / f"{path.stem}-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}"


def _write_cache(entry: Path, P: torch.Tensor, V: torch.Tensor, times: np.ndarray) -> None:
    """A trajectory's clouds and times into the cache folder ``entry``."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed into place: a reader never sees a half-written entry, and of two processes that
    # wrote the same entry at once, one keeps its copy.
    scratch = Path(tempfile.mkdtemp(dir=entry.parent, prefix=".writing-"))
    for name, array in (("P", P.numpy()), ("V", V.numpy()), ("times", times)):
        np.save(scratch / f"{name}.npy", array)
    try:
        os.rename(scratch, entry)
    except OSError:
        shutil.rmtree(scratch)


def _mapped_cache(entry: Path) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(P, V, times) of a cache entry, the clouds memory-mapped."""
    # Copy-on-write maps give writable arrays (what torch.from_numpy wants) that never touch the files.
    P, V = (torch.from_numpy(np.load(entry / f"{name}.npy", mmap_mode="c")) for name in ("P", "V"))
    return P, V, np.load(entry / "times.npy")


def load_protein(topology_path: str | Path, trajectory_paths: list[str | Path], *,
                 frame_ps: float | None = None, name: str | None = None,
                 cache_dir: str | Path | None = None) -> ProteinData:
    """Read one protein's topology and trajectories into tensor clouds.

    Solvent and ions are stripped; every trajectory is checked (atoms match the topology, at least one
    frame, finite coordinates) and gets its frame interval (``frame_ps`` overrides the files). With
    ``cache_dir`` the clouds are memory-mapped from the frame cache there (module docstring), else in memory.
    """
    topology_path = Path(topology_path)
    if not trajectory_paths:
        raise TrajectoryError(f"topology {topology_path}: no trajectories given for it")
    topology = load_topology(topology_path)
    keep = np.array([atom.index for atom in topology.atoms if not is_solvent_or_ion(atom.residue)])
    if keep.size == 0:
        raise TrajectoryError(f"topology {topology_path}: holds only solvent and ions, no protein")
    protein_topology = topology.subset(keep)
    try:
        binding = bind_topology(protein_topology.to_openmm())
    except TopologyError as error:
        raise TopologyError(f"topology {topology_path}: {error}") from error
    cloud_map = TensorCloudMap(binding)

    trajectories = []
    for path in map(Path, trajectory_paths):
        entry = None
        if cache_dir is not None and path.is_file():  # a missing file is reported by the reader
            entry = _cache_entry(Path(cache_dir), path, topology_path)
        cached = entry is not None and entry.is_dir()
        P, V, times = _mapped_cache(entry) if cached else _read_cloud(path, topology, topology_path, keep, cloud_map)
        interval = resolved_frame_interval_ps(path, times, frame_ps)  # checked before anything is cached
        if entry is not None and not cached:
            _write_cache(entry, P, V, times)
            P, V, times = _mapped_cache(entry)
        trajectories.append(CloudTrajectory(path=path, frame_ps=interval, P=P, V=V))

    return ProteinData(
        name=name or topology_path.stem,
        topology_path=topology_path,
        binding=binding,
        residue_types=torch.as_tensor(np.asarray(binding.residue_types), dtype=torch.int64),
        mask=torch.as_tensor(np.asarray(binding.mask), dtype=torch.bool),
        trajectories=trajectories,
    )
