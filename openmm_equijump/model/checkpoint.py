"""Training checkpoints: what a run needs to continue exactly, and what export needs to rebuild the model.

A checkpoint (``torch.save`` of a dict, written atomically) holds:
    format_version, step, config (the full TrainConfig as plain data), model (state dict), optimizer (state
    dict), rng (torch CPU / CUDA global states and the data- and loss-generator states), vocabulary
    (``protein.vocabulary.VOCABULARY`` the residue types index), proteins (name, sequence of every trained protein),
    covalent_geometry (``protein.covalent.covalent_geometry`` of the training data: the projection's references),
    versions (openmm_equijump, torch, e3nn, mdtraj, openmm, python).

Checkpoints and jump modules are zip archives whose every member carries a CRC-32; libtorch does not check
them, so ``verify_archive`` does before either is loaded: a damaged file is refused instead of running.
"""
from __future__ import annotations

import io
import os
import platform
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..config import config_from_dict
from ..errors import EquiJumpError
from .network import EquiJumpModel, ModelConfig
from .transports import TransportConfig
from .diffmd import DiffMDModel
from .transports.diffmd import DiffMDConfig
from .walkjump import WalkJumpConfig, WalkJumpModel
from .structure import StructureDiffusionConfig, StructureModel
from .blocks import BlocksConfig, WindowModel

CHECKPOINT_FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"


class CheckpointError(EquiJumpError, ValueError):
    """A checkpoint or jump module that is missing, damaged, of another format, or whose weights do not fit its
    config."""


#: What a training checkpoint holds beyond a shipped model's keys: what ``--resume`` needs.
RESUME_KEYS = ("optimizer", "rng", "step")


def verify_archive(source: bytes | Path, what: str, fix: str) -> None:
    """Refuse a damaged archive of ``torch.save`` or ``torch.jit.save`` (``what`` names it, ``fix`` says what to do)
    by the CRC-32 of every member."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise CheckpointError(f"{what} is damaged or not written by torch ({error}); {fix}") from None
    if damaged is not None:
        raise CheckpointError(f"{what} is damaged: its member {damaged} does not match its checksum (CRC-32); {fix}")


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the weights depend on."""
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("openmm_equijump", "e3nn", "mdtraj", "openmm", "deeptime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed as a distribution"
    return versions


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (a crash mid-write leaves the previous file intact)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save({"format_version": CHECKPOINT_FORMAT_VERSION, **checkpoint}, partial)
    os.replace(partial, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The dict written by ``save_checkpoint``; ``path`` may be the file or the run's output folder."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".pt":
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: was the run started with this --out folder?")
    fix = "copy it again from where it came from, or train again"
    verify_archive(path, f"checkpoint {path}", fix)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch's errors on a bad file are of many kinds; any of them means a bad file
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); {fix}") from None
    if not isinstance(checkpoint, dict) or not {"config", "model"} <= set(checkpoint):
        raise CheckpointError(f"{path} is not a checkpoint of openmm_equijump (no config and model weights)")
    version = checkpoint.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}; this openmm_equijump reads "
                         f"version {CHECKPOINT_FORMAT_VERSION}")
    return checkpoint


def make_model(method: str, model: ModelConfig, transport: TransportConfig, walk_jump: WalkJumpConfig,
               diffmd: DiffMDConfig, structure: StructureDiffusionConfig | None = None,
               blocks: BlocksConfig | None = None
               ) -> EquiJumpModel | WalkJumpModel | DiffMDModel | StructureModel | WindowModel:
    """A new model of a run's ``method`` ("equijump", "walk-jump", "diffmd", "structure" or "blocks";
    ``training.config.TrainConfig``)."""
    if method in ("structure", "blocks"):
        structure = structure if structure is not None else StructureDiffusionConfig()
        if method == "structure":
            return StructureModel(model, structure)
        return WindowModel(model, structure, blocks if blocks is not None else BlocksConfig())
    if method == "walk-jump":
        return WalkJumpModel(model, walk_jump)
    if method == "diffmd":
        return DiffMDModel(model, diffmd)
    return EquiJumpModel(model, transport)


def trained_model(checkpoint: dict[str, Any], path: str | Path) -> EquiJumpModel | WalkJumpModel | DiffMDModel:
    """The model of a loaded checkpoint with its weights (train mode); ``path`` names the checkpoint in errors.

    Reads only the ``method``, ``model``, ``transport`` (or, in older checkpoints, ``interpolant``),
    ``walk_jump``, ``diffmd``, ``structure`` and ``blocks`` of the stored run config: rebuilding a model needs
    nothing of the trainer.
    """
    config = checkpoint["config"]
    transport = config.get("transport", config.get("interpolant", {}))
    model = make_model(config.get("method", "equijump"),
                       config_from_dict(ModelConfig, config.get("model", {}), where=f"{path}: model"),
                       config_from_dict(TransportConfig, transport, where=f"{path}: transport"),
                       config_from_dict(WalkJumpConfig, config.get("walk_jump", {}), where=f"{path}: walk_jump"),
                       config_from_dict(DiffMDConfig, config.get("diffmd", {}), where=f"{path}: diffmd"),
                       config_from_dict(StructureDiffusionConfig, config.get("structure", {}),
                                        where=f"{path}: structure"),
                       config_from_dict(BlocksConfig, config.get("blocks", {}), where=f"{path}: blocks"))
    missing, unexpected = model.load_state_dict(checkpoint["model"], strict=False)
    if missing or unexpected:
        written_by = checkpoint.get("versions", {}).get("openmm_equijump", "unknown")
        raise CheckpointError(f"checkpoint {path}: its weights do not fit the model its config describes "
                              f"({len(missing)} missing, e.g. {missing[:1]}; {len(unexpected)} unexpected, e.g. "
                              f"{unexpected[:1]}); it was written by a different revision of openmm_equijump "
                              f"(recorded version {written_by}): retrain, or load it with the revision that "
                              "wrote it")
    return model
