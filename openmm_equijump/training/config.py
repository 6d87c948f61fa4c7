"""``TrainConfig``: everything that defines a training run, saved as ``config.yaml`` beside its checkpoint.

In YAML (``--config``): the keys of ``TrainConfig``; ``datasets`` a list of {topology, trajectories, frame_ps,
name}, with paths relative to the YAML file; ``model`` the ``ModelConfig`` and ``transport`` the
``TransportConfig`` (``interpolant:``, its old name, is read too), ``walk_jump`` the ``WalkJumpConfig``, ``diffmd``
the ``DiffMDConfig``, ``structure`` the ``StructureDiffusionConfig`` and ``blocks`` the ``BlocksConfig``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import check_ranges, config_from_dict, config_to_dict, load_yaml
from ..errors import ConfigError
from ..model.network import ModelConfig
from ..model.transports import TransportConfig
from ..model.diffmd import HISTORY_FRAMES
from ..model.transports.diffmd import DiffMDConfig
from ..model.walkjump import WalkJumpConfig
from ..model.structure import StructureDiffusionConfig
from ..model.blocks import BlocksConfig

#: What a run trains: "equijump" (the jump X^t -> X^(t + lag)), "walk-jump" (JAMUN's denoiser of single frames),
#: "diffmd" (DiffMD's score diffusion from X^t, conditioned on earlier frames), "structure" (a diffusion model of
#: single frames), "blocks" (windows of frames from a pretrained "structure" run).
METHODS = ("equijump", "walk-jump", "diffmd", "structure", "blocks")


#: (section, fields) of the settings a run measures on its data when it starts, unless they are given.
MEASURED = (("walk_jump", ("mean_sq_distance_A2",)), ("diffmd", ("unit_A", "accel_threshold_A")),
            ("structure", ("mean_sq_distance_A2",)))


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
    ``method``: "equijump" learns jumps of ``lag_ps`` (``transport``); "walk-jump" trains JAMUN's denoiser of
    single frames at the noise level of ``walk_jump`` (``model.walkjump``; ``lag_ps`` then serves only as the
    default TICA lag of cluster sampling, and ``transport`` and ``start_noise_A`` do not apply); "diffmd" learns
    jumps of ``lag_ps`` with DiffMD's score diffusion (``diffmd``; ``model.diffmd``) on windows of two earlier
    frames (``transport`` and ``start_noise_A`` do not apply). ``lag_ps`` may be as short as the data's frame
    interval (e.g. 0.02 ps, DiffMD's regime). "structure" trains a diffusion model of single frames
    (``structure``; ``model.structure``; no lag, as "walk-jump"); "blocks" trains the temporal layers of
    ``model.blocks`` on windows of ``blocks.frames`` frames ``lag_ps`` apart, around the frozen network of the
    "structure" run ``blocks.pretrained`` (whose ``model`` and ``structure`` settings it takes), or with the
    spatial network trained from scratch (``blocks.from_scratch``).
    """

    @property
    def pair_lag_ps(self) -> float:
        """The lag of the training examples: ``lag_ps``, or 0 (single frames) for the walk-jump denoiser."""
        return 0.0 if self.method in ("walk-jump", "structure") else self.lag_ps

    @property
    def history_frames(self) -> int:
        """Frames before X^t that every training example carries (DiffMD's and the blocks' windows; 0 for the
        others)."""
        if self.method == "blocks":
            return self.blocks.frames - 2
        return HISTORY_FRAMES if self.method == "diffmd" else 0

    datasets: list[DatasetConfig] = field(default_factory=list, metadata={"items": DatasetConfig})
    method: str = "equijump"
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
    transport: TransportConfig = field(default_factory=TransportConfig, metadata={"aliases": ("interpolant",)})
    walk_jump: WalkJumpConfig = field(default_factory=WalkJumpConfig)
    diffmd: DiffMDConfig = field(default_factory=DiffMDConfig)
    structure: StructureDiffusionConfig = field(default_factory=StructureDiffusionConfig)
    blocks: BlocksConfig = field(default_factory=BlocksConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"TrainConfig.method={self.method!r}; choose one of {', '.join(METHODS)}")
        check_ranges(self, at_least_one=("steps", "batch_size", "validate_every", "checkpoint_every", "n_clusters",
                                         "n_tics", "lr_decay_steps"),
                     positive=("lag_ps", "temperature_K", "lr", "grad_clip_norm", "tica_lag_ps"),
                     non_negative=("lr_final", "validation_pairs", "start_noise_A"))
        if self.method == "blocks" and not (self.blocks.pretrained or self.blocks.from_scratch):
            raise ConfigError("TrainConfig.method='blocks' needs blocks.pretrained: the folder of a --method structure "
                              "run (--pretrained RUN), or blocks.from_scratch (--from-scratch) to train the spatial "
                              "network with the temporal layers")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"TrainConfig.validation_fraction must be in [0, 1), got {self.validation_fraction}")


def load_train_config(path: str | Path) -> TrainConfig:
    """A TrainConfig from YAML; dataset paths are resolved relative to the YAML file."""
    path = Path(path)
    config = load_yaml(TrainConfig, path)
    for dataset in config.datasets:
        dataset.topology = str((path.parent / dataset.topology).resolve())
        dataset.trajectories = [str((path.parent / t).resolve()) for t in dataset.trajectories]
    return config


def check_resumable(config: TrainConfig, stored: dict, out_dir: Path) -> None:
    """Refuse to resume the run in ``out_dir`` (its checkpoint's config ``stored``, plain data) with other
    settings than ``config``: only ``steps`` may change."""
    stored = config_to_dict(config_from_dict(TrainConfig, {**stored, "steps": config.steps}, where=str(out_dir)))
    wanted = config_to_dict(config)
    for section, measured in MEASURED:  # measured by the run: a request leaves them open
        for name in measured:
            if getattr(getattr(config, section), name) is None:
                wanted[section][name] = stored[section][name]
    if stored != wanted:
        changed = sorted(k for k, v in wanted.items() if stored.get(k) != v)
        raise ConfigError(f"--resume: the run in {out_dir} was made with other settings ({', '.join(changed)}); "
                          f"only steps may change when resuming; start a new output folder otherwise")
