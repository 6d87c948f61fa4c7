"""Train an EquiJump model on your own MD: ``python -m openmm_equijump.train`` (``equijump-train``).

    python -m openmm_equijump.train --topology protein.pdb --trajectories run1.dcd run2.xtc \\
        --lag-ps 100 --out runs/mine [--steps N] [--config cfg.yaml] [--resume] [--frame-ps X] [--seed S]

Several proteins for one transferable model: repeat ``--dataset TOPOLOGY TRAJ [TRAJ ...]``, or list them in
the YAML given with ``--config`` (``training.config``). Command-line flags override the YAML. The run's
folder is described in ``training.loop``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from ..config import config_from_dict, config_to_dict
from ..errors import ConfigError
from ..model.checkpoint import load_checkpoint
from ..model.blocks import TASKS, BlocksConfig
from ..model.walkjump import WalkJumpConfig
from ..training.config import MEASURED, METHODS, DatasetConfig, TrainConfig, load_train_config
from ..training.loop import train
from . import ArgumentParser, add_config_flag, add_temperature_flag, command


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m openmm_equijump.train",
        description="Train an EquiJump model (learned jumps of --lag-ps), a walk-jump denoiser (--method walk-jump), "
                    "a DiffMD model (--method diffmd), a structure diffusion model (--method structure) or blocks "
                    "of frames around one (--method blocks) on molecular dynamics trajectories.")
    parser.add_argument("--topology", help="topology of --trajectories (PDB, PSF, GRO, prmtop, ...)")
    parser.add_argument("--trajectories", nargs="+", metavar="FILE", help="DCD, XTC, TRR, NetCDF, HDF5, ...")
    parser.add_argument("--dataset", nargs="+", action="append", metavar=("TOPOLOGY", "TRAJECTORY"),
                        help="one protein: its topology then its trajectories; repeat for several proteins")
    add_config_flag(parser, "TrainConfig")
    parser.add_argument("--out", required=True, help="output folder (checkpoint, config.yaml, losses.csv)")
    parser.add_argument("--method", choices=METHODS,
                        help="equijump (default): jumps of --lag-ps; walk-jump: JAMUN's denoiser of single frames "
                             "at noise --sigma-A (no lag); diffmd: DiffMD's score diffusion from the previous frame "
                             "(jumps of --lag-ps, windows of two earlier frames; settings under diffmd: in --config); "
                             "structure: a diffusion model of single frames (no lag; settings under structure:); "
                             "blocks: windows of --frames frames --lag-ps apart around the frozen network of the "
                             "structure run --pretrained (settings under blocks:)")
    parser.add_argument("--pretrained", metavar="RUN", help="blocks: the folder of a --method structure run")
    parser.add_argument("--from-scratch", action="store_true", default=None,
                        help="blocks: no pretrained run; the spatial network is trained with the temporal layers "
                             "(the ablation without pretraining)")
    parser.add_argument("--task", choices=TASKS,
                        help=f"blocks: which frames of a window are given (default {BlocksConfig.task})")
    parser.add_argument("--frames", type=int, help=f"blocks: frames per window (default {BlocksConfig.frames})")
    parser.add_argument("--sigma-A", type=float, dest="sigma_A",
                        help=f"walk-jump noise level in Angstrom (default {WalkJumpConfig.sigma_A})")
    parser.add_argument("--lag-ps", type=float, help="jump length in ps (default 100)")
    parser.add_argument("--frame-ps", type=float,
                        help="frame interval of the command-line trajectories, overriding their files")
    parser.add_argument("--steps", type=int,
                        help=f"total optimizer steps (default {TrainConfig.steps}; with --resume: may extend the run)")
    parser.add_argument("--batch-size", type=int, help=f"pairs per step (default {TrainConfig.batch_size})")
    parser.add_argument("--seed", type=int, help="seed of the split, the sampling, the weights and the noise "
                                                 f"(default {TrainConfig.seed})")
    add_temperature_flag(parser, "temperature of the training MD (K), stored for export")
    parser.add_argument("--cluster-sampling", action="store_true", help="cluster-enhanced pair sampling")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint "
                                                              "(only --steps may change)")
    parser.add_argument("--force", action="store_true", help="replace a training run already in --out")
    parser.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this many steps")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if bool(args.topology) != bool(args.trajectories):
        parser.error("--topology and --trajectories go together")
    if any(len(d) < 2 for d in args.dataset or []):
        parser.error("--dataset needs a topology and at least one trajectory")
    if args.stop_after is not None and args.stop_after < 1:
        parser.error(f"--stop-after must be >= 1 step, got {args.stop_after}")
    return args


#: (flag attribute, TrainConfig field) of the flags that set a setting.
FLAG_SETTINGS = (("method", "method"), ("lag_ps", "lag_ps"), ("steps", "steps"), ("batch_size", "batch_size"),
                 ("seed", "seed"), ("temperature_K", "temperature_K"))


def config_from_args(args: argparse.Namespace, with_data: bool = True) -> TrainConfig:
    """Defaults, then the YAML of --config, then the command-line flags (without the data: only the YAML)."""
    config = load_train_config(args.config) if args.config else TrainConfig()
    if not with_data:
        return config
    given = ([[args.topology, *args.trajectories]] if args.topology else []) + (args.dataset or [])
    command_line = [DatasetConfig(str(Path(topology).resolve()), [str(Path(t).resolve()) for t in trajectories])
                    for topology, *trajectories in given]
    if args.frame_ps is not None and not command_line:
        raise ConfigError("--frame-ps applies to the trajectories given on the command line; for datasets of "
                          "--config set frame_ps in each of them")
    for dataset in command_line:
        dataset.frame_ps = args.frame_ps
    flags = {name: getattr(args, flag) for flag, name in FLAG_SETTINGS if getattr(args, flag) is not None}
    if args.cluster_sampling:
        flags["cluster_sampling"] = True
    if args.sigma_A is not None:
        flags["walk_jump"] = replace(config.walk_jump, sigma_A=args.sigma_A)
    blocks = blocks_flags(args)
    if blocks:
        flags["blocks"] = replace(config.blocks, **blocks)
    # replace() checks the flags' values as the constructor checks the YAML's (--batch-size 0 is refused)
    return replace(config, datasets=config.datasets + command_line, **flags)


def blocks_flags(args: argparse.Namespace) -> dict:
    """The ``BlocksConfig`` settings given by flag (--pretrained as an absolute path)."""
    blocks = {name: getattr(args, name) for name in ("task", "frames") if getattr(args, name) is not None}
    if args.pretrained is not None:
        blocks["pretrained"] = str(Path(args.pretrained).resolve())
    if args.from_scratch:
        blocks["from_scratch"] = True
    return blocks


def resumed_config(args: argparse.Namespace, config: TrainConfig) -> TrainConfig:
    """The stored config of the run in --out; only --steps may change it, any other setting given (by flag
    or --config) that differs from the run's is refused by name."""
    stored = config_from_dict(TrainConfig, load_checkpoint(args.out)["config"], where=args.out)
    if config.datasets and config.datasets != stored.datasets:
        raise ConfigError(f"--resume: {args.out} was trained on other data; start a new --out folder")
    requested = config_to_dict(config_from_args(args, with_data=False)) if args.config else {}
    requested.update({name: getattr(args, flag) for flag, name in FLAG_SETTINGS if getattr(args, flag) is not None})
    if args.cluster_sampling:
        requested["cluster_sampling"] = True
    if args.sigma_A is not None:
        requested["walk_jump"] = {**config_to_dict(stored)["walk_jump"], "sigma_A": args.sigma_A}
    if blocks_flags(args):
        requested["blocks"] = {**requested.get("blocks", config_to_dict(stored)["blocks"]), **blocks_flags(args)}
    stored_values = config_to_dict(stored)
    for section, measured in MEASURED:  # measured by the run, never requested
        for name in measured:
            requested.get(section, {}).pop(name, None)
            stored_values[section].pop(name, None)
    changed = sorted(name for name, value in requested.items()
                     if name not in ("steps", "datasets") and value != stored_values[name])
    if changed:
        raise ConfigError(f"--resume: {args.out} was trained with " + ", ".join(
            f"{name}={stored_values[name]!r}" for name in changed) + "; only --steps may change when resuming "
            "(start a new --out folder for other settings)")
    return stored if args.steps is None else replace(stored, steps=args.steps)


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    config = config_from_args(args)
    if args.resume:
        config = resumed_config(args, config)
    path = train(config, args.out, resume=args.resume, stop_after=args.stop_after, device=args.device,
                 progress=not args.no_progress, force=args.force)
    print(f"checkpoint {path} ({time.perf_counter() - started:.0f} s)")
    return 0
