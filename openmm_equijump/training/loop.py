"""The training loop: ``train(config, out_dir)`` and its steps (data, state, one optimizer step, validation,
checkpoint). Command line: ``python -m openmm_equijump.train`` (``cli.train``).

Output folder: ``checkpoint.pt`` (latest; see ``model.checkpoint``), ``config.yaml`` (the full configuration,
rewritten with every checkpoint), ``losses.csv`` (one row per training step and per validation), ``frames_cache/``
(the trajectories' tensor clouds, memory-mapped: ``data.trajectories``; safe to delete). ``resume``
continues the run in ``out_dir`` exactly where its checkpoint left it (same losses as an uninterrupted run with
the same seed, on the same device); Ctrl-C stops after the step in progress and writes a checkpoint (a second
Ctrl-C stops at once, losing the steps since the last periodic checkpoint). Under torchrun the run is spread
over several processes (``training.distributed``).
"""
from __future__ import annotations

import csv
import math
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..config import config_from_dict, config_to_dict, save_yaml
from ..errors import ConfigError
from ..model.batch import PairBatch
from ..model.checkpoint import (CHECKPOINT_NAME, CONFIG_NAME, RESUME_KEYS, CheckpointError, load_checkpoint,
                                make_model, package_versions, save_checkpoint, trained_model)
from ..model.network import EquiJumpModel
from ..model.diffmd import measure_diffmd_scales
from ..model.structure import StructureModel
from ..model.walkjump import atom_mask, cloud_to_atoms, mean_squared_distance
from ..protein.covalent import covalent_geometry
from ..protein.vocabulary import VOCABULARY
from .config import TrainConfig, check_resumable
from .data.clusters import cluster_weights
from .data.pairs import PairSampler, TransitionPairs, check_trajectories, evenly_spaced, split_by_trajectory
from .data.trajectories import ProteinData, load_protein
from .distributed import BatchLoss, World, training_world

LOSSES_NAME = "losses.csv"
FRAMES_CACHE_NAME = "frames_cache"


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of step ``step`` (0-based): linear from ``lr`` to ``lr_final``, then constant."""
    decay_steps = config.lr_decay_steps or config.steps
    fraction = min(step / max(decay_steps, 1), 1.0)
    return config.lr + fraction * (config.lr_final - config.lr)


def load_trained_model(path: str | Path, map_location: str | torch.device = "cpu"
                       ) -> tuple[EquiJumpModel, TrainConfig]:
    """The model of a checkpoint (file or run folder) with trained weights, and the run's configuration."""
    checkpoint = load_checkpoint(path, map_location)
    return trained_model(checkpoint, path), config_from_dict(TrainConfig, checkpoint["config"], where=str(path))


class LossLog:
    """``losses.csv``: step, split (train/val), lr, loss and the named loss components, full precision.
    ``path`` None: no log (the processes of a distributed run other than rank 0)."""

    def __init__(self, path: Path | None, resume_step: int | None):
        self.path = path
        self.columns: list[str] | None = None
        self.last_validation = math.nan
        if path is None:
            return
        if resume_step is not None and path.is_file():
            # Rows written after the checkpoint belong to the steps that will be redone.
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle))
            if rows:
                self.columns = rows[0]
                try:
                    kept = [rows[0]] + [row for row in rows[1:] if int(row[0]) <= resume_step]
                except (ValueError, IndexError) as error:
                    raise CheckpointError(f"{path} is damaged ({error}); remove it to resume without the earlier "
                                          "losses, or start a new run") from None
                validation = [row for row in kept[1:] if row[1] == "val"]
                if validation:  # what the progress bar shows until the resumed run validates again
                    self.last_validation = float(validation[-1][self.columns.index("loss")])
                with open(path, "w", newline="") as handle:
                    csv.writer(handle).writerows(kept)
        elif path.exists():
            path.unlink()

    def write(self, step: int, split: str, lr: float, losses: dict[str, float]) -> None:
        if self.path is None:
            return
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
             seed: int, device: torch.device, world: World = World()) -> dict[str, float]:
    """Mean losses over the fixed validation pairs, with noise drawn from a fixed seed (comparable over time);
    in a distributed run each chunk is split over the processes (``training.distributed``)."""
    generator = torch.Generator(device).manual_seed(seed)
    totals: dict[str, float] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for chunk in indices.split(batch_size):
            rows = world.rows(len(chunk))
            if rows is not None and rows.start == rows.stop:
                # Only the last chunk can have fewer pairs than processes, so skipping its noise draw here
                # desynchronizes no later draw.
                continue
            losses = _scalars(model.loss(pairs.batch(chunk).to(device), generator, rows=rows))
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value * len(chunk)
    model.train(was_training)
    return {name: total / len(indices) for name, total in world.sum_dicts(totals).items()}


class StopOnInterrupt:
    """Ctrl-C (SIGINT) and SIGTERM (what ``timeout`` and batch schedulers send) ask the training loop to stop
    after the step in progress, so that the checkpoint it then writes continues exactly; a second signal of
    the same kind acts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> "StopOnInterrupt":
        self.requested = None  # the name of the signal that asked
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._request) for s in self.SIGNALS}
        return self

    def _request(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name
        signal.signal(signum, self._previous[signum])

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def optimizer_step(model: EquiJumpModel, optimizer: torch.optim.Optimizer, batch: PairBatch,
                   generator: torch.Generator, grad_clip_norm: float | None = None,
                   batch_loss: BatchLoss | None = None) -> dict[str, float]:
    """One Adam step on ``batch``; returns the losses. Raises FloatingPointError on a non-finite loss.
    ``batch_loss``: how this process computes the loss (default: ``model.loss`` on the whole batch)."""
    objective, losses = (batch_loss or BatchLoss(model))(batch, generator)
    loss = losses["loss"]
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss is {float(loss)}")
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    if grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
    optimizer.step()
    return _scalars(losses)


def load_datasets(config: TrainConfig, cache_dir: Path | None = None) -> list[ProteinData]:
    """The proteins of ``config``; with ``cache_dir``, memory-mapped from the frame cache there."""
    if not config.datasets:
        raise ConfigError("no data: give --topology and --trajectories, --dataset, or datasets in --config")
    return [load_protein(d.topology, d.trajectories, frame_ps=d.frame_ps, name=d.name, cache_dir=cache_dir)
            for d in config.datasets]


@dataclass
class TrainingData:
    """The pairs a run trains and validates on, how it samples them, and the covalent geometry it records."""

    proteins: list[ProteinData]
    train_pairs: TransitionPairs
    validation_pairs: TransitionPairs
    sampler: PairSampler
    validation_indices: torch.Tensor
    covalent_geometry: dict[str, float]


def prepare_data(config: TrainConfig, cache_dir: Path | None = None, world: World = World()) -> TrainingData:
    """Read the datasets (memory-mapped from ``cache_dir``, which rank 0 fills first), split them by whole
    trajectories, and weight the training pairs (cluster sampling; computed on rank 0, sent to all)."""
    with world.main_first():
        proteins = load_datasets(config, cache_dir)
    lag_ps = config.pair_lag_ps
    check_trajectories(proteins, lag_ps)
    train_segments, validation_segments = split_by_trajectory(proteins, config.validation_fraction, lag_ps, config.seed)
    train_pairs = TransitionPairs(proteins, train_segments, lag_ps, config.history_frames)
    validation_pairs = TransitionPairs(proteins, validation_segments, lag_ps, config.history_frames)
    weights = None
    if config.cluster_sampling:
        weights = world.from_main(lambda: cluster_weights(
            train_pairs, n_clusters=config.n_clusters, n_tics=config.n_tics,
            tica_lag_ps=config.tica_lag_ps or config.lag_ps, seed=config.seed))
    return TrainingData(proteins, train_pairs, validation_pairs, PairSampler(len(train_pairs), weights),
                        evenly_spaced(len(validation_pairs), config.validation_pairs), covalent_geometry(proteins))


@dataclass
class TrainingState:
    """What a checkpoint saves and ``resume`` restores: weights, optimizer, generators and the step count."""

    model: EquiJumpModel
    optimizer: torch.optim.Optimizer
    data_generator: torch.Generator
    loss_generator: torch.Generator
    step: int = 0

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.data_generator.set_state(rng["data"])
        self.loss_generator.set_state(rng["loss"])
        self.step = checkpoint["step"]


def measure_data_scale(config: TrainConfig, data: TrainingData) -> None:
    """Set the scales a run measures on 64 (walk-jump, structure) or 512 (DiffMD) training examples spread evenly
    over the data, once, when it starts (they are then part of the run's config): the denoisers' C
    (``WalkJumpConfig.mean_sq_distance_A2``, ``StructureDiffusionConfig.mean_sq_distance_A2``), DiffMD's u and abar
    (``DiffMDConfig.unit_A``, ``accel_threshold_A``; ``model.diffmd.measure_diffmd_scales``). Settings given in
    the config are kept."""
    measures_structure = config.method == "structure" or (config.method == "blocks" and config.blocks.from_scratch)
    denoiser = config.walk_jump if config.method == "walk-jump" else config.structure if measures_structure else None
    if denoiser is not None and denoiser.mean_sq_distance_A2 is None:
        batch = data.train_pairs.batch(evenly_spaced(len(data.train_pairs), 64))
        weight = atom_mask(batch.mask, batch.residue_mask).unsqueeze(-1).double()
        denoiser.mean_sq_distance_A2 = mean_squared_distance(
            cloud_to_atoms(batch.P0, batch.V0).double(), weight, denoiser.radius_A)
    if config.method == "diffmd":
        unit, threshold = measure_diffmd_scales(data.train_pairs.batch(evenly_spaced(len(data.train_pairs), 512)))
        config.diffmd.unit_A = config.diffmd.unit_A or unit
        config.diffmd.accel_threshold_A = config.diffmd.accel_threshold_A or threshold


def pretrained_structure(config: TrainConfig) -> StructureModel:
    """The trained model of the "structure" run ``config.blocks.pretrained``, whose ``model`` and ``structure``
    settings ``config`` (a new "blocks" run) takes."""
    model, run = load_trained_model(config.blocks.pretrained)
    if run.method != "structure":
        raise ConfigError(f"blocks.pretrained={config.blocks.pretrained!r} is a --method {run.method} run; the blocks "
                          "need the network of a --method structure run")
    config.model, config.structure = run.model, run.structure
    return model


def new_state(config: TrainConfig, device: torch.device) -> TrainingState:
    """Freshly initialized weights, optimizer and generators, all seeded from ``config.seed``."""
    torch.manual_seed(config.seed)
    model = make_model(config.method, config.model, config.transport, config.walk_jump, config.diffmd,
                       config.structure, config.blocks).to(device)
    return TrainingState(model, torch.optim.Adam(model.parameters(), lr=config.lr),
                         torch.Generator().manual_seed(config.seed),
                         torch.Generator(device).manual_seed(config.seed + 1))


def print_data_scales(state: TrainingState, config: TrainConfig, data: TrainingData, device: torch.device) -> None:
    """How a new run's data compares with the preconditioning scales of its transport (or denoiser)."""
    if config.method == "walk-jump":
        c = config.walk_jump
        print(f"training frames: {len(data.train_pairs)}; noise sigma {c.sigma_A:g} A; data scale C = "
              f"{c.mean_sq_distance_A2:.1f} A^2 (heavy atoms within {c.radius_A:g} A); c_skip "
              f"{state.model.c_skip:.3f}, c_out {state.model.c_out:.3f} A")
        return
    if config.method == "structure":
        c, sigma = config.structure, state.model.sigma
        print(f"training frames: {len(data.train_pairs)}; {c.levels} noise levels, sigma {float(sigma[1]):.3g} .. "
              f"{float(sigma[-1]):.4g} A; data scale C = {c.mean_sq_distance_A2:.1f} A^2 (heavy atoms within "
              f"{c.radius_A:g} A)")
        return
    if config.method == "blocks":
        c = config.blocks
        trained = sum(p.numel() for p in state.model.parameters() if p.requires_grad)
        spatial = sum(p.numel() for p in state.model.structure.parameters())
        around = (f"spatial network trained from scratch (data scale C = {config.structure.mean_sq_distance_A2:.1f} "
                  "A^2)" if c.from_scratch else f"{spatial} frozen parameters of {c.pretrained}")
        print(f"training windows: {len(data.train_pairs)} of {c.frames} frames {config.lag_ps:g} ps apart; task "
              f"{c.task}; {trained} trained parameters; {around}")
        return
    if config.method == "diffmd":
        c = config.diffmd
        print(f"training windows: {len(data.train_pairs)}; SDE length u = {c.unit_A:.4g} A (RMS jump per coordinate), "
              f"acceleration threshold {c.accel_threshold_A:.4g} A per lag^2 (median per atom); sigma_s {c.sigma_s:g}, "
              f"eta {c.eta:g}, history {c.history}")
        return
    sample = data.train_pairs.batch(evenly_spaced(len(data.train_pairs), 512)).to(device)
    rms_P, rms_V = state.model.jump_displacement_rms(sample)
    print(f"training pairs: {len(data.train_pairs)}; jump displacement RMS per coordinate {rms_P:.2f} A (anchors), "
          f"{rms_V:.2f} A (vectors); TransportConfig.endpoint_scale_P, endpoint_scale_V = "
          f"{config.transport.endpoint_scale_P:g}, {config.transport.endpoint_scale_V:g}")


def write_checkpoint(out_dir: Path, state: TrainingState, config: TrainConfig, data: TrainingData) -> Path:
    """``config.yaml`` and ``checkpoint.pt`` of the run so far (``model.checkpoint`` lists the keys)."""
    save_yaml(config, out_dir / CONFIG_NAME)
    save_checkpoint(out_dir / CHECKPOINT_NAME, {
        "step": state.step,
        "config": config_to_dict(config),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "data": state.data_generator.get_state(), "loss": state.loss_generator.get_state()},
        "vocabulary": list(VOCABULARY),
        "covalent_geometry": data.covalent_geometry,
        "proteins": [{"name": p.name, "topology": str(p.topology_path),
                      "sequence": [VOCABULARY[int(s)] for s in p.residue_types]} for p in data.proteins],
        "versions": package_versions(),
    })
    return out_dir / CHECKPOINT_NAME


def train_step(state: TrainingState, config: TrainConfig, data: TrainingData, device: torch.device,
               out_dir: Path, batch_loss: BatchLoss) -> tuple[float, dict[str, float]]:
    """One optimizer step at the scheduled learning rate on the global batch; returns (lr, its losses)."""
    lr = learning_rate(config, state.step)
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    batch = data.train_pairs.batch(data.sampler.draw(config.batch_size, state.data_generator)).to(device)
    try:
        if config.start_noise_A > 0 and config.method == "equijump":
            batch = batch.with_noisy_start(config.start_noise_A, state.loss_generator)
        values = optimizer_step(state.model, state.optimizer, batch, state.loss_generator, config.grad_clip_norm,
                                batch_loss)
    except FloatingPointError as error:
        restart = (f"resume from the last checkpoint in {out_dir}" if (out_dir / CHECKPOINT_NAME).is_file()
                   else f"start again ({out_dir} holds no checkpoint yet)")
        raise FloatingPointError(f"step {state.step + 1} (lr {lr:g}): {error}; lower lr or set grad_clip_norm, "
                                 f"and {restart}") from error
    state.step += 1
    return lr, values


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, stop_after: int | None = None,
          device: str = "auto", progress: bool = True, force: bool = False) -> Path:
    """Run (or with ``resume`` continue) training into ``out_dir``; returns the checkpoint's path.

    ``stop_after``: stop with a checkpoint after this many steps of this call (for time-limited jobs; the
    run goes on with ``resume``). ``device``: "auto" (CUDA when present), "cpu", "cuda", ... A new run into a
    folder that holds another run's checkpoint is refused unless ``force`` (which replaces that run). Under
    torchrun every process calls this (``training.distributed``: ``device`` "cuda" or "auto" takes the GPU of
    its LOCAL_RANK).
    """
    with training_world(device) as (world, resolved):
        return _train(config, Path(out_dir), world, resolved, resume=resume, stop_after=stop_after,
                      progress=progress, force=force)


def _train(config: TrainConfig, out_dir: Path, world: World, device: torch.device, *, resume: bool,
           stop_after: int | None, progress: bool, force: bool) -> Path:
    """``train`` in this process of ``world``."""
    world.check_batch_size(config.batch_size)
    if not resume and not force and (out_dir / CHECKPOINT_NAME).is_file():
        raise ConfigError(f"{out_dir} already holds a training run ({CHECKPOINT_NAME}); continue it with --resume, "
                          "choose another --out, or replace it with --force")
    checkpoint = load_checkpoint(out_dir, map_location="cpu") if resume else None
    if checkpoint is not None:
        missing = [key for key in RESUME_KEYS if key not in checkpoint]
        if missing:
            raise CheckpointError(f"{out_dir / CHECKPOINT_NAME} lacks {', '.join(missing)}: it cannot be resumed (a "
                                  "shipped model.pt keeps the weights only); start a new run in another --out")
        check_resumable(config, checkpoint["config"], out_dir)
    pretrained = (pretrained_structure(config)
                  if config.method == "blocks" and checkpoint is None and not config.blocks.from_scratch else None)
    data = prepare_data(config, out_dir / FRAMES_CACHE_NAME, world)
    measure_data_scale(config, data)
    out_dir.mkdir(parents=True, exist_ok=True)  # only now (or by the frame cache): the inputs are known to work
    state = new_state(config, device)
    if pretrained is not None:
        state.model.structure.load_state_dict(pretrained.state_dict())
    if checkpoint is None:
        if world.is_main:
            print_data_scales(state, config, data, device)
    else:
        try:
            state.restore(checkpoint)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:  # what torch raises on damaged states
            raise CheckpointError(f"{out_dir / CHECKPOINT_NAME} cannot be resumed ({type(error).__name__}: {error}); "
                                  "start a new run in another --out") from None
    batch_loss = BatchLoss(state.model, world)

    log = LossLog(out_dir / LOSSES_NAME if world.is_main else None, resume_step=state.step if resume else None)
    validation_seed = config.seed + 2
    last_validation = log.last_validation

    def validate_now(lr: float) -> float:
        losses = validate(state.model, data.validation_pairs, data.validation_indices, config.batch_size,
                          validation_seed, device, world)
        log.write(state.step, "val", lr, losses)
        return losses["loss"]

    if state.step == 0 and len(data.validation_indices):
        last_validation = validate_now(learning_rate(config, 0))
    bar = tqdm(total=config.steps, initial=state.step, disable=not (progress and world.is_main), unit="step",
               dynamic_ncols=True, desc=f"training on {device.type}" + (f" x {world.size}" if world.distributed else ""))
    smoothed = math.nan
    steps_this_call = 0
    state.model.train()
    with StopOnInterrupt() as interrupt:
        while (state.step < config.steps and (stop_after is None or steps_this_call < stop_after)
               and not world.any(interrupt.requested is not None)):
            lr, values = train_step(state, config, data, device, out_dir, batch_loss)
            steps_this_call += 1
            log.write(state.step, "train", lr, values)
            smoothed = values["loss"] if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * values["loss"]
            if len(data.validation_indices) and (state.step % config.validate_every == 0
                                                 or state.step == config.steps):
                last_validation = validate_now(lr)
            if state.step % config.checkpoint_every == 0 and world.is_main:
                write_checkpoint(out_dir, state, config, data)
            bar.set_postfix(loss=f"{smoothed:.4g}", val=f"{last_validation:.4g}", lr=f"{lr:.2g}", refresh=False)
            bar.update(1)
    bar.close()
    path = out_dir / CHECKPOINT_NAME
    if world.is_main:
        write_checkpoint(out_dir, state, config, data)
    world.barrier()  # the checkpoint is complete when any process returns
    if world.any(interrupt.requested is not None):
        if world.is_main:
            print(f"{interrupt.requested or 'a stop signal to another process'} after step {state.step}: "
                  f"checkpoint written to {path}; continue with --resume", file=sys.stderr)
        raise KeyboardInterrupt
    return path
