"""Trained models by name or path, bound to a topology: ``load_model("chignolin", topology=pdb.topology)``.

A trained model is a checkpoint of ``python -m openmm_equijump.train`` (the run folder or its
``checkpoint.pt``); a shipped one is a folder of ``openmm_equijump/pretrained/`` holding ``model.pt`` (the
same checkpoint without optimizer state) and its ``MODEL_CARD.md``. Binding it to a topology gives the jump
module that ``EquiJumpIntegrator`` runs.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

import torch
from openmm.app import Topology

from ..errors import ConfigError
from ..model.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint, trained_model
from ..model.network import EquiJumpModel
from .compiled import CompiledNetwork
from .export import export_jump_module
from ..model.sampler import JumpSampler, SamplerConfig
from ..model.diffmd import DiffMDSampler, DiffMDSamplerConfig
from ..model.walk import WalkConfig, WalkJumpSampler
from ..model.block_sampler import BlockSampler, BlockSamplerConfig
from ..protein.topology import bind_topology

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
PRETRAINED_WEIGHTS = "model.pt"
#: Reference MD shipped beside a model: <model folder>/reference/heavy_atoms.pdb and its trajectories.
REFERENCE_DIR = "reference"
REFERENCE_TOPOLOGY = "heavy_atoms.pdb"
#: The nominal step (ps) of a sampler without time (walk-jump): a step count is a sample index, and a
#: trajectory's "ps" count samples.
SAMPLE_STEP_PS = 1.0


def available_models() -> list[str]:
    """Names of the models shipped with the package."""
    return sorted(p.parent.name for p in PRETRAINED_DIR.glob(f"*/{PRETRAINED_WEIGHTS}"))


def model_path(name_or_path: Union[str, Path]) -> Path:
    """The checkpoint file of a shipped model name, a training run folder or a checkpoint file."""
    shipped = PRETRAINED_DIR / str(name_or_path) / PRETRAINED_WEIGHTS
    if isinstance(name_or_path, str) and "/" not in name_or_path and shipped.is_file():
        return shipped
    path = Path(name_or_path)
    if path.is_dir():
        for candidate in (path / PRETRAINED_WEIGHTS, path / CHECKPOINT_NAME):
            if candidate.is_file():
                return candidate
    elif path.is_file():
        return path
    raise FileNotFoundError(
        f"no model {str(name_or_path)!r}: not a shipped model ({', '.join(available_models()) or 'none'}), "
        f"a training output folder or a checkpoint file"
    )


def reference_md(name_or_path: Union[str, Path]) -> Optional[tuple[Path, list[Path]]]:
    """(topology, trajectories) of the reference MD shipped beside a model, or None when there is none."""
    folder = model_path(name_or_path).parent / REFERENCE_DIR
    topology = folder / REFERENCE_TOPOLOGY
    trajectories = sorted(p for p in folder.glob("*") if p.suffix in (".xtc", ".dcd") and p.is_file())
    if not topology.is_file() or not trajectories:
        return None
    return topology, trajectories


def load_trained(name_or_path: Union[str, Path]) -> EquiJumpModel:
    """The EquiJumpModel of a shipped model, run folder or checkpoint, with trained weights, in eval mode."""
    model, _ = _load_trained(name_or_path)
    return model


def _load_trained(name_or_path: Union[str, Path]) -> tuple[EquiJumpModel, dict]:
    """(model in eval mode, the checkpoint dict), reading the checkpoint once."""
    path = model_path(name_or_path)
    checkpoint = load_checkpoint(path)
    return trained_model(checkpoint, path).eval(), checkpoint


def load_model(name_or_path: Union[str, Path], topology: Topology, *,
               sampler: Optional[SamplerConfig] = None, latent_steps: Optional[int] = None,
               walk: Optional[WalkConfig] = None, diffmd: Optional[DiffMDSamplerConfig] = None,
               blocks: Optional[BlockSamplerConfig] = None, temperature_K: Optional[float] = None, non_protein: str = "error", compiled: bool = False,
               cache_dir: Optional[Union[str, Path]] = None) -> torch.nn.Module:
    """The jump module of a trained model bound to ``topology``.

    name_or_path: a shipped model (``available_models()``), a training run folder or a checkpoint file.
    sampler: sampler settings of an EquiJump model (default ``SamplerConfig()``: SDE, 100 latent steps, eps 1);
    ``latent_steps`` overrides just that. walk: the walk of a walk-jump model (default ``WalkConfig()``); its
    module is stateful and not kinetic: each step is one sample (nominally ``SAMPLE_STEP_PS``), not time.
    diffmd: the jump of a DiffMD model (default ``DiffMDSamplerConfig()``); its module is stateful (the two
    previous frames) and starts from zero velocity whenever positions are set.
    blocks: forward simulation by a blocks model of the forward task (default ``BlockSamplerConfig()``;
    ``latent_steps`` overrides its ancestral steps): each step hands out one frame of a block (the model's frame
    interval), a new block is sampled from the current positions when the block is used up; its module is
    stateful (the block).
    temperature_K: the training temperature (K), used only when the checkpoint does not record it (a model
    trained without ``--temperature-k``). non_protein: see ``protein.topology.bind_topology``. Errors about
    residues, atoms and solvent are raised here, as ``protein.topology.TopologyError``.
    compiled: an EquiJump model's network compiled ahead of time for this topology's residues
    (``runtime.compiled``; minutes unless ``cache_dir`` holds the packages). The jump module holds the packages,
    which are native code for this kind of CPU; the plugin and ``runtime.replicas`` run it as any other.
    """
    model, checkpoint = _load_trained(name_or_path)
    run = checkpoint["config"]
    temperature_K = run.get("temperature_K") if run.get("temperature_K") is not None else temperature_K
    if temperature_K is None:
        raise ConfigError(f"model {str(name_or_path)!r} does not record the temperature of its training data "
                          "(trained without --temperature-k): give it, in kelvin, with simulate --temperature-k or "
                          "load_model(..., temperature_K=...)")
    if run.get("method") == "structure" or (run.get("method") == "blocks" and run["blocks"]["task"] != "forward"):
        what = run["method"] + ("" if run["method"] == "structure" else f", task {run['blocks']['task']}")
        raise ConfigError(f"model {str(name_or_path)!r} ({what}) does not simulate forward in time, so it has no "
                          "jump module: sample it with training.loop.load_trained_model(...)[0].sample (or "
                          "python -m openmm_equijump.interpolate for an interpolation model)")
    if compiled and run.get("method", "equijump") != "equijump":
        raise ConfigError(f"model {str(name_or_path)!r} ({run['method']}): only EquiJump models can be compiled")
    if run.get("method", "equijump") == "walk-jump":
        walk = walk or WalkConfig()
        transition, jump_ps, kinetic, iterations = WalkJumpSampler(model, walk), SAMPLE_STEP_PS, False, \
            walk.projection_iterations
    elif run.get("method") == "diffmd":
        diffmd = diffmd or DiffMDSamplerConfig()
        transition, jump_ps, kinetic, iterations = DiffMDSampler(model, diffmd), run["lag_ps"], True, \
            diffmd.projection_iterations
        warnings.warn(f"model {str(name_or_path)!r} (DiffMD) conditions each jump on the two previous frames: the "
                      "first jump, and the first after positions are set, starts from zero velocity", stacklevel=2)
    elif run.get("method") == "blocks":
        blocks = blocks or BlockSamplerConfig()
        if latent_steps is not None:
            blocks = replace(blocks, steps=latent_steps)
        transition, jump_ps, kinetic, iterations = BlockSampler(model, blocks), run["lag_ps"], True, \
            blocks.projection_iterations
    else:
        sampler = sampler or SamplerConfig()
        if latent_steps is not None:
            sampler = replace(sampler, latent_steps=latent_steps)
        network = model
        if compiled:
            binding = bind_topology(topology, non_protein=non_protein)
            network = CompiledNetwork(model, torch.as_tensor(binding.residue_types), torch.as_tensor(binding.mask),
                                      cache_dir)
        transition, jump_ps, kinetic, iterations = JumpSampler(network, sampler), run["lag_ps"], True, \
            sampler.projection_iterations
    geometry = checkpoint.get("covalent_geometry")
    if geometry is None and iterations:
        warnings.warn(f"model {str(name_or_path)!r} was trained before checkpoints recorded the covalent geometry "
                      "of their data: its jumps are not projected (training.geometry.add_covalent_geometry records it)",
                      stacklevel=2)
    with torch.no_grad():
        return export_jump_module(
            transition, topology, jump_ps=jump_ps, temperature_K=temperature_K, settings=transition.settings(),
            covalent_geometry=geometry, projection_iterations=iterations, non_protein=non_protein, kinetic=kinetic)


def ship_model(run: Union[str, Path], name: str) -> Path:
    """Copy a training run's final weights and config into ``pretrained/<name>/model.pt`` (no optimizer)."""
    checkpoint = load_checkpoint(model_path(run))
    keep = {k: v for k, v in checkpoint.items() if k not in ("optimizer", "rng", "format_version")}
    target = PRETRAINED_DIR / name / PRETRAINED_WEIGHTS
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, keep)
    return target
