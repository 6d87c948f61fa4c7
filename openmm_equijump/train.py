"""Train an EquiJump model on your own MD: ``python -m openmm_equijump.train``.

    python -m openmm_equijump.train --topology protein.pdb --trajectories run1.dcd run2.xtc \\
        --lag-ps 100 --out runs/mine [--steps N] [--config cfg.yaml] [--resume] [--frame-ps X] [--seed S]

Several proteins for one transferable model: repeat ``--dataset TOPOLOGY TRAJ [TRAJ ...]``, or list them in
the YAML given with ``--config`` (keys of TrainConfig; ``datasets`` as a list of {topology, trajectories,
frame_ps, name}; relative paths are relative to the YAML file). Command-line flags override the YAML.

Output folder: ``checkpoint.pt`` (latest; see ``checkpoint``), ``config.yaml`` (the full configuration,
rewritten with every checkpoint), ``losses.csv`` (one row per training step and per validation).
``--resume`` continues the run in ``--out`` exactly where its checkpoint left it (same losses as an
uninterrupted run with the same seed, on the same device); Ctrl-C stops after the step in progress and
writes a checkpoint (a second Ctrl-C stops at once, losing the steps since the last periodic checkpoint).
"""
from __future__ import annotations

import argparse
import csv
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from .batch import PairBatch
from .checkpoint import CHECKPOINT_NAME, CONFIG_NAME, load_checkpoint, package_versions, save_checkpoint
from .covalent import covalent_geometry
from .data.clusters import cluster_weights
from .data.pairs import PairSampler, TransitionPairs, check_trajectories, evenly_spaced, split_by_trajectory
from .data.trajectories import ProteinData, TrajectoryError, load_protein
from .interpolants import InterpolantConfig
from .model import EquiJumpModel, ModelConfig
from .topology import VOCABULARY, TopologyError

LOSSES_NAME = "losses.csv"


class ConfigError(ValueError):
    """A training configuration that cannot be used (unknown setting, no data, a resume with other settings)."""


@dataclass
class DatasetConfig:
    """One protein: its topology and trajectories; ``frame_ps`` overrides the files' frame interval."""

    topology: str
    trajectories: list[str]
    frame_ps: float | None = None
    name: str | None = None


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as YAML next to every checkpoint).

    Learning rate: Adam, decayed linearly from ``lr`` to ``lr_final`` over ``lr_decay_steps`` steps (None:
    over ``steps``), then held; the paper's setting is 1e-2 -> 1e-3 over 150k steps at batch 128. The default
    3e-3 -> 3e-4 with the gradient norm clipped at 1 suits the default batch of 8 (1e-2 diverged to NaN within
    100 steps there); ``grad_clip_norm`` None switches clipping off.
    Validation: ``validation_fraction`` of each protein's frames, whole trajectories (data.pairs), scored on
    at most ``validation_pairs`` fixed pairs with fixed noise every ``validate_every`` steps.
    Cluster-enhanced sampling (data.clusters): ``n_clusters`` k-means clusters on ``n_tics`` TICs, TICA lag
    ``tica_lag_ps`` (None: ``lag_ps``). ``temperature_K``: of the training MD, stored for export.
    ``start_noise_A``: Gaussian noise (Angstrom per coordinate) added to the start frame of every training pair
    (not to validation pairs; ``PairBatch.with_noisy_start``), so that the model learns to repair the small
    distortions its own jumps make instead of compounding them over a rollout; 0 switches it off.
    """

    datasets: list[DatasetConfig] = field(default_factory=list, metadata={"items": DatasetConfig})
    lag_ps: float = 100.0
    temperature_K: float | None = None
    steps: int = 10000
    batch_size: int = 8
    lr: float = 3e-3
    lr_final: float = 3e-4
    lr_decay_steps: int | None = None
    grad_clip_norm: float | None = 1.0
    validation_fraction: float = 0.2
    validation_pairs: int = 256
    validate_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    start_noise_A: float = 0.0
    cluster_sampling: bool = False
    n_clusters: int = 200
    n_tics: int = 2
    tica_lag_ps: float | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    interpolant: InterpolantConfig = field(default_factory=InterpolantConfig)

    def __post_init__(self) -> None:
        if not self.start_noise_A >= 0:
            raise ConfigError(f"TrainConfig.start_noise_A must be >= 0 Angstrom, got {self.start_noise_A}")


def config_to_dict(config: Any) -> Any:
    """A (nested) config dataclass as plain YAML-safe data."""
    if is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in fields(config)}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(item) for item in config]
    if isinstance(config, Path):
        return str(config)
    return config


def config_from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build config dataclass ``cls`` from plain data, refusing unknown keys (typos) by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} settings, got {data!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown {cls.__name__} setting(s) {unknown}; known: {sorted(known)}")
    values = {}
    for name, value in data.items():
        spec = known[name]
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        if "items" in spec.metadata:
            value = [config_from_dict(spec.metadata["items"], item, f"{where}.{name}[{i}]")
                     for i, item in enumerate(value)]
        elif is_dataclass(default):
            value = config_from_dict(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from error


def load_config_yaml(path: str | Path) -> TrainConfig:
    """A TrainConfig from YAML; dataset paths are resolved relative to the YAML file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    config = config_from_dict(TrainConfig, data, where=str(path))
    for dataset in config.datasets:
        dataset.topology = str((path.parent / dataset.topology).resolve())
        dataset.trajectories = [str((path.parent / t).resolve()) for t in dataset.trajectories]
    return config


def save_config_yaml(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of step ``step`` (0-based): linear from ``lr`` to ``lr_final``, then constant."""
    decay_steps = config.lr_decay_steps or config.steps
    fraction = min(step / max(decay_steps, 1), 1.0)
    return config.lr + fraction * (config.lr_final - config.lr)


def build_model(config: TrainConfig) -> EquiJumpModel:
    return EquiJumpModel(config.model, config.interpolant)


def load_trained_model(path: str | Path, map_location: str | torch.device = "cpu"
                       ) -> tuple[EquiJumpModel, TrainConfig]:
    """The model of a checkpoint (file or run folder) with trained weights, and the run's configuration."""
    return trained_model(load_checkpoint(path, map_location), path)


def trained_model(checkpoint: dict, path: str | Path) -> tuple[EquiJumpModel, TrainConfig]:
    """The model of a loaded checkpoint (``load_checkpoint``) with its weights, and the run's configuration;
    ``path`` names the checkpoint in errors."""
    config = config_from_dict(TrainConfig, checkpoint["config"], where=str(path))
    model = build_model(config)
    missing, unexpected = model.load_state_dict(checkpoint["model"], strict=False)
    if missing or unexpected:
        written_by = checkpoint.get("versions", {}).get("openmm_equijump", "unknown")
        raise ValueError(f"checkpoint {path}: its weights do not fit the model its config describes "
                         f"({len(missing)} missing, e.g. {missing[:1]}; {len(unexpected)} unexpected, e.g. "
                         f"{unexpected[:1]}); it was written by a different revision of openmm_equijump "
                         f"(recorded version {written_by}): retrain, or load it with the revision that wrote it")
    return model, config


class LossLog:
    """``losses.csv``: step, split (train/val), lr, loss and the named loss components, full precision."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        self.columns: list[str] | None = None
        self.last_validation = math.nan
        if resume_step is not None and path.is_file():
            # Rows written after the checkpoint belong to the steps that will be redone.
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle))
            if rows:
                self.columns = rows[0]
                kept = [rows[0]] + [row for row in rows[1:] if int(row[0]) <= resume_step]
                validation = [row for row in kept[1:] if row[1] == "val"]
                if validation:  # what the progress bar shows until the resumed run validates again
                    self.last_validation = float(validation[-1][self.columns.index("loss")])
                with open(path, "w", newline="") as handle:
                    csv.writer(handle).writerows(kept)
        elif path.exists():
            path.unlink()

    def write(self, step: int, split: str, lr: float, losses: dict[str, float]) -> None:
        if self.columns is None:
            self.columns = ["step", "split", "lr", "loss"] + sorted(k for k in losses if k != "loss")
            with open(self.path, "w", newline="") as handle:
                csv.writer(handle).writerow(self.columns)
        values = {"step": step, "split": split, "lr": repr(lr), **{k: repr(v) for k, v in losses.items()}}
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([values.get(column, "") for column in self.columns])


def _scalars(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in losses.items()}


def validate(model: EquiJumpModel, pairs: TransitionPairs, indices: torch.Tensor, batch_size: int,
             seed: int, device: torch.device) -> dict[str, float]:
    """Mean losses over the fixed validation pairs, with noise drawn from a fixed seed (comparable over time)."""
    generator = torch.Generator(device).manual_seed(seed)
    totals: dict[str, float] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for chunk in indices.split(batch_size):
            losses = _scalars(model.loss(pairs.batch(chunk).to(device), generator))
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value * len(chunk)
    model.train(was_training)
    return {name: total / len(indices) for name, total in totals.items()}


class StopOnInterrupt:
    """Ctrl-C (SIGINT) asks the training loop to stop after the step in progress, so that the checkpoint it
    then writes continues exactly; a second Ctrl-C interrupts at once."""

    def __enter__(self) -> "StopOnInterrupt":
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def optimizer_step(model: EquiJumpModel, optimizer: torch.optim.Optimizer, batch: PairBatch,
                   generator: torch.Generator, grad_clip_norm: float | None = None) -> dict[str, float]:
    """One Adam step on ``batch``; returns the losses. Raises FloatingPointError on a non-finite loss."""
    losses = model.loss(batch, generator)
    loss = losses["loss"]
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss is {float(loss)}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    optimizer.step()
    return _scalars(losses)


def load_datasets(config: TrainConfig) -> list[ProteinData]:
    if not config.datasets:
        raise ConfigError("no data: give --topology and --trajectories, --dataset, or datasets in --config")
    return [load_protein(d.topology, d.trajectories, frame_ps=d.frame_ps, name=d.name) for d in config.datasets]


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, stop_after: int | None = None,
          device: str = "auto", progress: bool = True) -> Path:
    """Run (or with ``resume`` continue) training into ``out_dir``; returns the checkpoint's path.

    ``stop_after``: stop with a checkpoint after this many steps of this call (for time-limited jobs; the
    run goes on with ``resume``). ``device``: "auto" (CUDA when present), "cpu", "cuda", ...
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                          "cpu" if device == "auto" else device)
    checkpoint = load_checkpoint(out_dir, map_location="cpu") if resume else None
    if checkpoint is not None:
        stored = {**checkpoint["config"], "steps": config.steps}
        if stored != config_to_dict(config):
            changed = sorted(k for k, v in config_to_dict(config).items() if stored.get(k) != v)
            raise ConfigError(f"--resume: the run in {out_dir} was made with other settings ({', '.join(changed)}); "
                             f"only steps may change when resuming; start a new output folder otherwise")

    proteins = load_datasets(config)
    check_trajectories(proteins, config.lag_ps)
    train_segments, validation_segments = split_by_trajectory(
        proteins, config.validation_fraction, config.lag_ps, config.seed)
    train_pairs = TransitionPairs(proteins, train_segments, config.lag_ps)
    validation_pairs = TransitionPairs(proteins, validation_segments, config.lag_ps)
    weights = None
    if config.cluster_sampling:
        weights = cluster_weights(train_pairs, n_clusters=config.n_clusters, n_tics=config.n_tics,
                                  tica_lag_ps=config.tica_lag_ps or config.lag_ps, seed=config.seed)
    sampler = PairSampler(len(train_pairs), weights)
    validation_indices = evenly_spaced(len(validation_pairs), config.validation_pairs)
    geometry = covalent_geometry(proteins)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    if checkpoint is None:  # a new run: how its data compares with the preconditioning scales
        rms_P, rms_V = model.jump_displacement_rms(train_pairs.batch(evenly_spaced(len(train_pairs), 512)).to(device))
        print(f"training pairs: {len(train_pairs)}; jump displacement RMS per coordinate {rms_P:.2f} A (anchors), "
              f"{rms_V:.2f} A (vectors); InterpolantConfig.endpoint_scale_P, endpoint_scale_V = "
              f"{config.interpolant.endpoint_scale_P:g}, {config.interpolant.endpoint_scale_V:g}")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data_generator = torch.Generator().manual_seed(config.seed)
    loss_generator = torch.Generator(device).manual_seed(config.seed + 1)
    step = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        data_generator.set_state(rng["data"])
        loss_generator.set_state(rng["loss"])
        step = checkpoint["step"]

    def write_checkpoint() -> Path:
        save_config_yaml(config, out_dir / CONFIG_NAME)
        save_checkpoint(out_dir / CHECKPOINT_NAME, {
            "step": step,
            "config": config_to_dict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "data": data_generator.get_state(), "loss": loss_generator.get_state()},
            "vocabulary": list(VOCABULARY),
            "covalent_geometry": geometry,
            "proteins": [{"name": p.name, "topology": str(p.topology_path),
                          "sequence": [VOCABULARY[int(s)] for s in p.residue_types]} for p in proteins],
            "versions": package_versions(),
        })
        return out_dir / CHECKPOINT_NAME

    log = LossLog(out_dir / LOSSES_NAME, resume_step=step if resume else None)
    validation_seed = config.seed + 2
    last_validation = log.last_validation
    if step == 0 and len(validation_indices):
        losses = validate(model, validation_pairs, validation_indices, config.batch_size, validation_seed, device)
        log.write(0, "val", learning_rate(config, 0), losses)
        last_validation = losses["loss"]

    bar = tqdm(total=config.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"training on {device.type}")
    smoothed = math.nan
    steps_this_call = 0
    model.train()
    with StopOnInterrupt() as interrupt:
        while step < config.steps and (stop_after is None or steps_this_call < stop_after) and not interrupt.requested:
            lr = learning_rate(config, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = train_pairs.batch(sampler.draw(config.batch_size, data_generator)).to(device)
            try:
                if config.start_noise_A > 0:
                    batch = batch.with_noisy_start(config.start_noise_A, loss_generator)
                values = optimizer_step(model, optimizer, batch, loss_generator, config.grad_clip_norm)
            except FloatingPointError as error:
                restart = (f"resume from the last checkpoint in {out_dir}" if (out_dir / CHECKPOINT_NAME).is_file()
                           else f"start again ({out_dir} holds no checkpoint yet)")
                raise FloatingPointError(f"step {step + 1} (lr {lr:g}): {error}; lower lr or set grad_clip_norm, "
                                         f"and {restart}") from error
            step += 1
            steps_this_call += 1
            log.write(step, "train", lr, values)
            smoothed = values["loss"] if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * values["loss"]
            if len(validation_indices) and (step % config.validate_every == 0 or step == config.steps):
                validation = validate(model, validation_pairs, validation_indices, config.batch_size,
                                      validation_seed, device)
                log.write(step, "val", lr, validation)
                last_validation = validation["loss"]
            if step % config.checkpoint_every == 0:
                write_checkpoint()
            bar.set_postfix(loss=f"{smoothed:.4g}", val=f"{last_validation:.4g}", lr=f"{lr:.2g}", refresh=False)
            bar.update(1)
    bar.close()
    path = write_checkpoint()
    if interrupt.requested:
        print(f"interrupted after step {step}: checkpoint written to {path}; continue with --resume",
              file=sys.stderr)
        raise KeyboardInterrupt
    return path


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m openmm_equijump.train",
        description="Train an EquiJump model (learned jumps of --lag-ps) on molecular dynamics trajectories.")
    parser.add_argument("--topology", help="topology of --trajectories (PDB, PSF, GRO, prmtop, ...)")
    parser.add_argument("--trajectories", nargs="+", metavar="FILE", help="DCD, XTC, TRR, NetCDF, HDF5, ...")
    parser.add_argument("--dataset", nargs="+", action="append", metavar=("TOPOLOGY", "TRAJECTORY"),
                        help="one protein: its topology then its trajectories; repeat for several proteins")
    parser.add_argument("--config", help="YAML with TrainConfig settings (and datasets)")
    parser.add_argument("--out", required=True, help="output folder (checkpoint, config.yaml, losses.csv)")
    parser.add_argument("--lag-ps", type=float, help="jump length in ps (default 100)")
    parser.add_argument("--frame-ps", type=float,
                        help="frame interval of the command-line trajectories, overriding their files")
    parser.add_argument("--steps", type=int,
                        help=f"total optimizer steps (default {TrainConfig.steps}; with --resume: may extend the run)")
    parser.add_argument("--batch-size", type=int, help=f"pairs per step (default {TrainConfig.batch_size})")
    parser.add_argument("--seed", type=int, help="seed of the split, the sampling, the weights and the noise "
                                                 f"(default {TrainConfig.seed})")
    parser.add_argument("--temperature-k", type=float, help="temperature of the training MD, stored for export")
    parser.add_argument("--cluster-sampling", action="store_true", help="cluster-enhanced pair sampling")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this many steps")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if bool(args.topology) != bool(args.trajectories):
        parser.error("--topology and --trajectories go together")
    if any(len(d) < 2 for d in args.dataset or []):
        parser.error("--dataset needs a topology and at least one trajectory")
    return args


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then the YAML of --config, then the command-line flags."""
    config = load_config_yaml(args.config) if args.config else TrainConfig()
    given = ([[args.topology, *args.trajectories]] if args.topology else []) + (args.dataset or [])
    command_line = [DatasetConfig(str(Path(topology).resolve()), [str(Path(t).resolve()) for t in trajectories])
                    for topology, *trajectories in given]
    if args.frame_ps is not None and not command_line:
        raise ConfigError("--frame-ps applies to the trajectories given on the command line; for datasets of "
                          "--config set frame_ps in each of them")
    for dataset in command_line:
        dataset.frame_ps = args.frame_ps
    config.datasets = config.datasets + command_line
    for flag, name in (("lag_ps", "lag_ps"), ("steps", "steps"), ("batch_size", "batch_size"), ("seed", "seed"),
                       ("temperature_k", "temperature_K")):
        if getattr(args, flag) is not None:
            setattr(config, name, getattr(args, flag))
    if args.cluster_sampling:
        config.cluster_sampling = True
    return config


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.perf_counter()
    try:
        config = config_from_args(args)
        if args.resume:
            stored = config_from_dict(TrainConfig, load_checkpoint(args.out)["config"], where=args.out)
            if config.datasets and config.datasets != stored.datasets:
                raise ConfigError(f"--resume: {args.out} was trained on other data; start a new --out folder")
            if args.steps is not None:
                stored.steps = args.steps
            config = stored
        path = train(config, args.out, resume=args.resume, stop_after=args.stop_after, device=args.device,
                     progress=not args.no_progress)
    except (ConfigError, TrajectoryError, TopologyError, FileNotFoundError) as error:
        # Bad input: the message names the file and the fix; a traceback would only bury it.
        raise SystemExit(f"error: {error}") from error
    except KeyboardInterrupt:
        return 130
    print(f"checkpoint {path} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
