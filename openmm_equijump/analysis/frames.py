"""Loading trajectories for analysis: frame intervals, heavy-atom matching, ensembles.

The analysis works on the protein heavy atoms only: a generated run may lack hydrogens, solvent or
ions, and may come with its own topology in another force field's dialect. Atoms are matched by
(protein chain ordinal, residue ordinal in that chain, residue name, atom name), after mapping
force-field variants to their parent names with the project's alias tables (``protein.vocabulary``:
HIE -> HIS, CHARMM ILE CD -> CD1, OT1 -> O, ...).

Frame intervals are in ps and come from the files themselves. mdtraj reports a DCD's time as the
frame index, so the DCD header is read (``trajectory_files.frame_interval_ps``); formats without a time
(PDB, ...) need the interval from the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import mdtraj as md
import numpy as np

from ..errors import EquiJumpError
from ..trajectory_files import dcd_frame_count, frame_interval_ps, missing_frames_message
from ..protein.vocabulary import canonical_atom_name, canonical_residue_name


#: Formats whose time column mdtraj reads from the file (ps).
_TIMED_SUFFIXES = {".xtc", ".trr", ".h5", ".nc", ".ncdf", ".netcdf"}

class AnalysisInputError(EquiJumpError, ValueError):
    """Trajectories the analysis cannot read or compare: no files, unknown or mixed frame intervals."""


class AtomMatchError(AnalysisInputError):
    """Reference, generated and native structures do not describe the same protein heavy atoms."""


def trajectory_frame_interval_ps(path: str | Path, trajectory: md.Trajectory) -> float | None:
    """Frame interval of a loaded trajectory file in ps, or None when the file does not say.

    DCD: from the header. XTC/TRR/HDF5/NetCDF: the time column mdtraj read. Other formats: None.
    """
    timed = Path(path).suffix.lower() in _TIMED_SUFFIXES
    return frame_interval_ps(path, trajectory.time if timed else None)


def protein_heavy_atoms(topology: md.Topology) -> dict[tuple, int]:
    """Key -> atom index for every protein heavy atom of a topology.

    Key: (protein chain ordinal, residue ordinal in chain, canonical residue name, canonical atom
    name). Chains without protein residues (water, ions, ligands) are skipped.
    """
    keys: dict[tuple, int] = {}
    chain_ordinal = 0
    for chain in topology.chains:
        # mdtraj does not count Amber's HID/HIE/CYX/ASH as protein: the project's alias table does
        residues = [r for r in chain.residues if r.is_protein or canonical_residue_name(r.name)]
        if not residues:
            continue
        for residue_ordinal, residue in enumerate(residues):
            resname = canonical_residue_name(residue.name) or residue.name  # caps keep their names
            for atom in residue.atoms:
                if atom.element is None or atom.element.symbol == "H":
                    continue
                key = (chain_ordinal, residue_ordinal, resname, canonical_atom_name(resname, atom.name))
                keys[key] = atom.index
        chain_ordinal += 1
    return keys


def _describe(key: tuple) -> str:
    chain, residue, resname, atom = key
    return f"chain {chain} residue {residue} {resname} atom {atom}"


def match_heavy_atoms(reference: md.Topology, other: md.Topology, what: str) -> np.ndarray:
    """Indices into ``other`` of the reference's protein heavy atoms, in reference order.

    Raises AtomMatchError naming the first reference atoms that ``other`` lacks (and extra heavy
    atoms ``other`` has), e.g. when the generated run uses another protonation or lacks OXT.
    """
    ref_keys = protein_heavy_atoms(reference)
    other_keys = protein_heavy_atoms(other)
    missing = [k for k in ref_keys if k not in other_keys]
    extra = [k for k in other_keys if k not in ref_keys]
    if missing or extra:
        lines = [f"{what} does not have the reference's protein heavy atoms"]
        if missing:
            lines.append(f"  missing in {what} ({len(missing)}): "
                         + "; ".join(_describe(k) for k in missing[:5]))
        if extra:
            lines.append(f"  not in the reference ({len(extra)}): "
                         + "; ".join(_describe(k) for k in extra[:5]))
        lines.append("  pass the topology that matches the trajectory (--generated-topology), "
                     "or check the residue sequence and terminal atoms")
        raise AtomMatchError("\n".join(lines))
    return np.array([other_keys[k] for k in ref_keys], dtype=int)


def match_calpha(reference: md.Topology, native: md.Topology) -> np.ndarray:
    """Indices into ``native`` of the C-alpha atoms of the reference's protein residues, in order.

    Only C-alphas are needed from the native structure, so a crystal structure with missing side
    chain atoms, waters or several models serves.
    """
    ref_keys = [k for k in protein_heavy_atoms(reference) if k[3] == "CA"]
    native_keys = protein_heavy_atoms(native)
    missing = [k for k in ref_keys if k not in native_keys]
    if missing:
        raise AtomMatchError(
            f"native structure lacks the C-alpha of {len(missing)} reference residue(s): "
            + "; ".join(_describe(k) for k in missing[:5])
            + "\n  the native structure must have the reference's residue sequence")
    return np.array([native_keys[k] for k in ref_keys], dtype=int)


@dataclass
class Ensemble:
    """Several trajectories of the same protein heavy atoms, all at one frame interval.

    trajectories: md.Trajectory objects over the reference's protein heavy atoms, in its order
    (nm, as mdtraj stores them). frame_ps: time between frames. sources: where each came from.
    """

    trajectories: list[md.Trajectory]
    frame_ps: float
    sources: list[str]

    @property
    def lengths(self) -> list[int]:
        return [t.n_frames for t in self.trajectories]

    @property
    def n_frames(self) -> int:
        return sum(self.lengths)

    def subset(self, indices: Sequence[int]) -> "Ensemble":
        return Ensemble([self.trajectories[i] for i in indices], self.frame_ps,
                        [self.sources[i] for i in indices])


def analysis_topology(reference_topology: md.Topology) -> md.Topology:
    """The reference topology restricted to its protein heavy atoms (with their bonds): the atoms,
    in this order, of every trajectory in an Ensemble."""
    return reference_topology.subset(sorted(protein_heavy_atoms(reference_topology).values()))


def ensemble_from_trajectories(trajectories: Sequence[md.Trajectory], reference_topology: md.Topology,
                               frame_ps: float, sources: Sequence[str] | None = None,
                               what: str = "generated") -> Ensemble:
    """An Ensemble from in-memory trajectories (each may have its own topology, atom order and extra
    atoms); their protein heavy atoms are put in the reference's order, on the reference's topology."""
    if not trajectories:
        raise AnalysisInputError(f"no {what} trajectories given")
    if not frame_ps > 0:
        raise AnalysisInputError(f"{what} frame interval must be positive, got {frame_ps} ps")
    sources = list(sources) if sources is not None else [f"{what}[{i}]" for i in range(len(trajectories))]
    topology = analysis_topology(reference_topology)
    ordered = []
    for trajectory, source in zip(trajectories, sources):
        if trajectory.n_frames == 0:
            raise AnalysisInputError(f"{what} trajectory {source} is empty (no frames); leave it out")
        broken = np.flatnonzero(~np.isfinite(trajectory.xyz).all(axis=(1, 2)))
        if len(broken):
            raise AnalysisInputError(
                f"{what} trajectory {source}: frame(s) {', '.join(map(str, broken[:5]))}"
                f"{' ...' if len(broken) > 5 else ''} (0-based, {len(broken)} in all) hold non-finite coordinates; "
                f"keep the frames before {broken[0]} (a run that blew up) or leave the file out")
        atoms = match_heavy_atoms(reference_topology, trajectory.topology, f"{what} {source}")
        # not atom_slice: it keeps the source's atom order, which may differ from the reference's
        ordered.append(_without_box(md.Trajectory(
            trajectory.xyz[:, atoms], topology, trajectory.time,
            trajectory.unitcell_lengths, trajectory.unitcell_angles)))
    return Ensemble(ordered, float(frame_ps), sources)


def _without_box(trajectory: md.Trajectory) -> md.Trajectory:
    """The protein made whole across periodic boundaries, then the box dropped: every observable is
    non-periodic, and mdtraj re-validates a box on each distance call (most of the analysis time)."""
    if trajectory.unitcell_vectors is not None:
        if trajectory.topology.n_bonds:
            trajectory.make_molecules_whole(inplace=True)
        trajectory.unitcell_vectors = None
    return trajectory


def _check_atom_count(path: str | Path, top: md.Topology, topology: str | Path) -> None:
    """Loading a subset of atoms does not check the file against its topology: read one frame whole."""
    try:
        md.load_frame(str(path), 0, top=top)
    except ValueError as error:
        raise AtomMatchError(f"{path} does not fit its topology {topology} ({top.n_atoms} atoms): {error}; "
                             "pass the topology the trajectory was written with") from error


def load_ensemble(paths: Sequence[str | Path], topology: str | Path, reference_topology: md.Topology,
                  frame_ps: float | None = None, what: str = "generated") -> Ensemble:
    """Load trajectory files and keep the reference's protein heavy atoms, in the reference's order.

    paths: trajectory files mdtraj reads. topology: the file that describes them (PDB, PSF, ...).
    frame_ps: frame interval override; None reads it from each file (and all must agree).
    what: "reference" or "generated", used in messages.
    """
    if not paths:
        raise AnalysisInputError(f"no {what} trajectories given")
    if not Path(topology).is_file():
        raise AnalysisInputError(f"{what} topology {topology}: no such file")
    top = md.load_topology(str(topology))
    heavy = np.sort(match_heavy_atoms(reference_topology, top, f"{what} topology {topology}"))
    trajectories, intervals = [], []
    for path in paths:
        if not Path(path).is_file():
            raise AnalysisInputError(f"{what} trajectory {path}: no such file")
        if Path(path).suffix.lower() == ".dcd" and dcd_frame_count(path) == 0:  # mdtraj: "could not open"
            raise AnalysisInputError(f"{what} trajectory {path} is empty (a DCD header with no frames); leave it out")
        _check_atom_count(path, top, topology)
        trajectory = md.load(str(path), top=top, atom_indices=heavy)  # solvent and H never held in memory
        gap = missing_frames_message(path, trajectory.time)
        if gap:
            raise AnalysisInputError(f"{what} trajectory {gap}")
        trajectories.append(trajectory)
        intervals.append(frame_ps if frame_ps is not None else trajectory_frame_interval_ps(path, trajectory))
    unknown = [str(p) for p, dt in zip(paths, intervals) if dt is None]
    if unknown:
        raise AnalysisInputError(f"{unknown[0]}: the file does not carry its frame interval; pass it with "
                         f"--{what}-frame-ps (or AnalysisSettings.{what}_frame_ps)")
    if not np.allclose(intervals, intervals[0], rtol=1e-3):
        listing = ", ".join(f"{p}: {dt:g} ps" for p, dt in zip(paths, intervals))
        raise AnalysisInputError(f"{what} trajectories have different frame intervals ({listing}); "
                         "analyse them separately or resample them to one interval")
    return ensemble_from_trajectories(trajectories, reference_topology, intervals[0],
                                      [str(p) for p in paths], what)
