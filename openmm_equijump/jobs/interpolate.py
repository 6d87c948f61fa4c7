"""Transition paths between two structures from an interpolation window model (Align Your Structures;
``python -m openmm_equijump.interpolate``).

A ``--method blocks --task interpolation`` run generates windows of T frames (its ``blocks.frames``) ``lag_ps``
apart whose first and last frames are given. Each path is one window: frame 0 the start structure, frame T - 1
the end structure, frames 1 .. T - 2 generated, so a path spans (T - 1) x lag_ps. The model's windows are
centred frame by frame and superposed onto their first frame (``model.blocks``), so the end structure is
superposed onto the start (Kabsch on the heavy atoms) before it conditions the window, and every frame of a path
is written at the start's heavy-atom centroid, in the start's orientation: the paths hold internal motion, not
the protein's diffusion or tumbling.

Every frame, given ones included, is then made a structure of the System as a jump's output is
(``runtime.export``): projected onto the covalent geometry of the model's training data, then hydrogens, the
terminal OXT and caps rebuilt in their frames as they sit in ``topology`` (default: the start structure). Given
frames move only by what the projection changes (hundredths of an Angstrom for an MD structure).

Path k draws its noise from a CPU generator seeded ``seed + k`` alone, so it does not depend on how many paths
are made, how they are batched (to float round-off) or the device; runs with seeds 1 and 2 share all paths but
one (give seeds far apart for independent sets).

Output folder: ``path_<k>.dcd`` (all atoms of ``topology``, T frames, the header carrying lag_ps),
``topology.pdb`` (their topology, at the start) and ``interpolate_config.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from openmm import unit
from openmm.app import PDBFile
from tqdm import tqdm

from ..config import check_ranges, save_yaml
from ..device import resolve_device
from ..errors import ConfigError
from ..model.blocks import WindowModel
from ..model.checkpoint import load_checkpoint, trained_model
from ..model.walkjump import atom_centroid, atom_mask, atoms_to_cloud, cloud_to_atoms
from ..protein.tensorcloud import tensor_cloud_from_positions
from ..protein.topology import ProteinBinding, TopologyError, bind_topology
from ..runtime.export import bind_transition
from ..runtime.load import model_path
from .rollout import write_dcds

CONFIG_NAME = "interpolate_config.yaml"
TOPOLOGY_NAME = "topology.pdb"


@dataclass
class InterpolateConfig:
    """One ``interpolate`` run (saved as ``interpolate_config.yaml``).

    model: a ``--method blocks --task interpolation`` run (folder or checkpoint). start, end: PDB files of one
    protein (the same residues and heavy atoms; hydrogens may differ). out: output folder. paths: how many paths;
    steps: ancestral sampling levels per path (``WindowModel.sample``); seed: path k uses seed + k.
    batch_size: paths per model call. topology: PDB whose atoms the paths carry (default: start); its hydrogens,
    OXT and caps are rebuilt in every frame as they sit in it. projection_iterations: sweeps of the covalent
    projection on every frame (2000, as for walk-jump samples: generated frames can be twisted). temperature_K:
    recorded in the bound module only, and needed only when the run does not record its training temperature.
    device: auto, cpu, cuda, ...
    """

    model: str
    start: str
    end: str
    out: str
    paths: int = 10
    steps: int = 100
    seed: int = 1
    batch_size: int = 10
    topology: Optional[str] = None
    projection_iterations: int = 2000
    temperature_K: Optional[float] = None
    device: str = "auto"

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("paths", "steps", "seed", "batch_size"), positive=("temperature_K",),
                     non_negative=("projection_iterations",))


def interpolation_model(name: str) -> tuple[WindowModel, dict]:
    """(the window model in eval mode, its checkpoint) of an interpolation run; refuses any other run."""
    path = model_path(name)
    checkpoint = load_checkpoint(path)
    run = checkpoint["config"]
    method, task = run.get("method", "equijump"), run.get("blocks", {}).get("task")
    if method != "blocks" or task != "interpolation":
        what = f"a --method blocks --task {task} run" if method == "blocks" else f"a --method {method} run"
        raise ConfigError(f"model {name!r} is {what}; interpolate needs a run trained with --method blocks --task "
                          "interpolation (the first and last frame of every window given)")
    return trained_model(checkpoint, path).eval(), checkpoint


def check_same_protein(reference: ProteinBinding, other: ProteinBinding, reference_name: str, other_name: str
                       ) -> None:
    """Refuse ``other`` unless it has the residues of ``reference``, naming the first that differs
    (``TopologyError``). Their heavy atoms then agree too: binding refuses a residue that lacks any, naming it."""
    fix = "give structures of the same protein (same sequence and heavy atoms; hydrogens may differ)"
    if reference.n_residues != other.n_residues:
        raise TopologyError(f"{other_name} has {other.n_residues} residues, {reference_name} "
                            f"{reference.n_residues}: {fix}")
    for i, (a, b) in enumerate(zip(reference.residue_types, other.residue_types)):
        if a != b:
            raise TopologyError(f"residue {i + 1} is {reference.residue_labels[i]} in {reference_name} but "
                                f"{other.residue_labels[i]} in {other_name}: {fix}")


def read_structure(path: str, reference: Optional[ProteinBinding], reference_name: str
                   ) -> tuple[PDBFile, ProteinBinding]:
    """A PDB file and its binding, checked against ``reference`` (when given)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"structure {path}: no such file")
    pdb = PDBFile(str(path))
    try:
        binding = bind_topology(pdb.topology)
    except TopologyError as error:
        raise TopologyError(f"{path}: {error}") from None
    if reference is not None:
        check_same_protein(reference, binding, reference_name, str(path))
    return pdb, binding


def positions_nm(pdb: PDBFile) -> np.ndarray:
    """(n_atoms, 3) float64 positions of a PDB file in nm."""
    return np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float64)


def heavy_atoms(pdb: PDBFile, binding: ProteinBinding) -> torch.Tensor:
    """Heavy atoms X (1, N, 14, 3) Angstrom, float64, of a structure (padded slots at their C-alpha)."""
    P, V = tensor_cloud_from_positions(positions_nm(pdb)[None], binding)
    return cloud_to_atoms(torch.as_tensor(P), torch.as_tensor(V))


def run_interpolate(config: InterpolateConfig) -> list[Path]:
    """Generate ``config.paths`` paths and write them (module docstring); returns the DCDs written."""
    model, checkpoint = interpolation_model(config.model)
    run = checkpoint["config"]
    temperature_K = run.get("temperature_K") or config.temperature_K
    if temperature_K is None:
        raise ConfigError(f"model {config.model!r} does not record the temperature of its training data (trained "
                          "without --temperature-k): give it, in kelvin, with --temperature-k")
    template_file = config.topology or config.start
    template, binding = read_structure(template_file, None, template_file)
    start, start_binding = read_structure(config.start, binding, template_file)
    end, end_binding = read_structure(config.end, binding, template_file)
    device = resolve_device(config.device)
    bound = bind_transition(model, template.topology, jump_ps=float(run["lag_ps"]), temperature_K=temperature_K,
                            covalent_geometry=checkpoint.get("covalent_geometry"),
                            projection_iterations=config.projection_iterations).to(device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / CONFIG_NAME)
    paths = generate_paths(bound, model, heavy_atoms(start, start_binding), heavy_atoms(end, end_binding),
                           positions_nm(template), config, device)
    PDBFile.writeFile(template.topology, paths[0, 0] * unit.nanometer, str(out / TOPOLOGY_NAME))
    return write_dcds(out, template.topology, paths, float(run["lag_ps"]), name="path")


@torch.no_grad()
def generate_paths(bound, model: WindowModel, start: torch.Tensor, end: torch.Tensor, template_nm: np.ndarray,
                   config: InterpolateConfig, device: torch.device) -> np.ndarray:
    """(paths, T, n_atoms, 3) nm: the paths of the module docstring.

    bound: the model bound to the template's topology (``runtime.export.bind_transition``; its covalent
    projection and hydrogen builder are used, not its jump). start, end: heavy atoms (1, N, 14, 3) Angstrom.
    template_nm: (n_atoms, 3) positions of the template (where rebuilt atoms sit in their frames)."""
    model.to(device)
    T, dtype = model.frames, model.structure.dtype()
    mask = bound.cloud.mask.unsqueeze(0)
    residue_mask = torch.ones(mask.shape[:2], dtype=torch.bool, device=device)
    weight = atom_mask(mask, residue_mask).unsqueeze(-1).to(torch.float64)
    start, end = start.to(device), end.to(device)
    centre = atom_centroid(start * weight, weight)  # the frames come back centred: put them back at the start
    given = torch.zeros((1, T) + tuple(start.shape[1:]), dtype=dtype, device=device)
    given[:, 0], given[:, -1] = start.to(dtype), end.to(dtype)
    anchors = start[:, :, 0]
    template = torch.as_tensor(template_nm, device=device).unsqueeze(0)
    paths = []
    with tqdm(total=config.paths, desc="interpolate", unit="path") as bar:
        for first in range(0, config.paths, config.batch_size):
            count = min(config.batch_size, config.paths - first)
            seeds = [config.seed + k for k in range(first, first + count)]
            windows = model.sample(given.expand(count, -1, -1, -1, -1), bound.cloud.residue_types.expand(count, -1),
                                   mask.expand(count, -1, -1), residue_mask.expand(count, -1), config.steps,
                                   seeds)
            frames = windows.to(torch.float64).flatten(0, 1) + centre
            P1, V1 = atoms_to_cloud(frames, mask.expand(len(frames), -1, -1))
            positions = bound.positions(template.expand(len(frames), -1, -1), anchors.expand(len(frames), -1, -1),
                                        P1, V1)
            paths.append(positions.reshape(count, T, -1, 3).cpu().numpy())
            bar.update(count)
    return np.concatenate(paths)
