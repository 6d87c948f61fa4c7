"""How faithful is a model's dynamics? ``python -m openmm_equijump.evaluate`` (``cli.evaluate``).

Runs R replicas of J jumps from the model's structure in one batch (``runtime.replicas.run_replicas``), checks every
replica for blow-ups (``analysis.stability``), and compares the jumps with reference MD through the analysis
(TICA, MSM reweighting, Jensen-Shannon divergences beside the MD noise floor). This is how the shipped model's
card was measured:

    python -m openmm_equijump.evaluate --model chignolin --replicas 20 --jumps 100 --out runs/eval

A forward-task blocks model (Align Your Structures) is evaluated the same way: a jump is one frame of its blocks
(its frame interval), and ``latent_steps`` is its ancestral steps per block.

Writes ``evaluate_config.yaml`` (``--config`` reads it back), ``replica_<r>.dcd`` (one frame per jump),
``evaluation.json`` (config, speed, stability per replica), ``analysis/metrics.json`` and the analysis figures.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit

from ..analysis.report import summary_table
from ..analysis.run import analyse_files
from ..analysis.settings import AnalysisSettings
from ..analysis.stability import stability_by_frame, stability_report, stability_table
from ..config import check_ranges, save_yaml
from ..device import cpu_threads
from ..errors import ConfigError
from ..model.block_sampler import BlockSamplerConfig
from ..model.sampler import SamplerConfig
from ..runtime.load import PRETRAINED_DIR, load_model, reference_md
from ..runtime.replicas import run_replicas
from .rollout import write_dcds

CONFIG_NAME = "evaluate_config.yaml"


@dataclass
class EvaluateConfig:
    """What to roll out and what to compare it with; saved as ``evaluate_config.yaml`` and inside
    ``evaluation.json``."""

    out: str
    model: str = "chignolin"
    pdb: str = str(PRETRAINED_DIR / "chignolin" / "structure.pdb")
    replicas: int = 20
    jumps: int = 100
    seed: int = 1
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # of a blocks model: latent_steps and projection
    reference_topology: Optional[str] = None     # None with no reference: the MD shipped beside the model
    reference: list[str] = field(default_factory=list)
    threads: int = 1                             # libtorch CPU threads of the jumps (0: one per core)
    burn_in_ps: float = 0.0                      # of every replica, left out of the comparison (not of stability)

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("replicas", "jumps"), non_negative=("burn_in_ps",))
        if self.threads < 0:
            raise ConfigError(f"EvaluateConfig.threads must be >= 0 (0: one per core), got {self.threads}")


def reference_files(config: EvaluateConfig) -> tuple[str, list[str]]:
    """(topology, trajectories) of the reference MD: the given files, or the MD shipped beside the model."""
    if config.reference:
        return config.reference_topology or config.pdb, config.reference
    shipped = reference_md(config.model)
    if shipped is None:
        raise ConfigError(f"no reference MD ships with model {config.model!r}; pass --reference (and "
                          "--reference-topology)")
    return str(shipped[0]), [str(p) for p in shipped[1]]


def evaluate(config: EvaluateConfig) -> dict:
    """Roll out, check and compare (module docstring); returns the content of ``evaluation.json``."""
    out = Path(config.out)
    reference = reference_files(config)
    pdb = app.PDBFile(config.pdb)
    # a blocks model's sampler takes the same two settings: ancestral steps per block and projection sweeps
    blocks = BlockSamplerConfig(config.sampler.latent_steps, config.sampler.projection_iterations)
    module = load_model(config.model, pdb.topology, sampler=config.sampler, blocks=blocks)
    burn_in_jumps = config.burn_in_ps / module.jump_ps  # checked before the rollout, not after it
    if abs(burn_in_jumps - round(burn_in_jumps)) > 1e-6 or burn_in_jumps >= config.jumps:
        raise ConfigError(f"EvaluateConfig.burn_in_ps = {config.burn_in_ps:g} must be a whole number of the model's "
                          f"{module.jump_ps:g} ps jumps, fewer than --jumps {config.jumps}")
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / CONFIG_NAME)
    start = np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    t0 = time.perf_counter()
    with cpu_threads(config.threads):
        frames = run_replicas(module, np.repeat(start[None], config.replicas, axis=0), config.jumps, config.seed,
                              keep_going=True)
    wall = time.perf_counter() - t0

    topology = mdtraj.Topology.from_openmm(pdb.topology)
    replicas = [mdtraj.Trajectory(frames[r], topology) for r in range(config.replicas)]
    stability = [stability_report(replica) for replica in replicas]
    report_frames = sorted({f for f in (0, 1, 4, 9, 19, 49, 99, config.jumps - 1) if f < config.jumps})
    by_jump = stability_by_frame(replicas, report_frames)
    paths = write_dcds(out, pdb.topology, frames, module.jump_ps)
    metrics, _ = analyse_files(reference[0], reference[1], paths, config.pdb, config.pdb, out / "analysis",
                               AnalysisSettings(generated_burn_in_ps=config.burn_in_ps))
    simulated_ns = config.replicas * config.jumps * module.jump_ps / 1000.0
    result = {
        "config": asdict(config),
        "wall_s": wall,
        "batch_size": config.replicas,
        "seconds_per_batched_jump": wall / config.jumps,
        "equijump_ns_per_day_all_replicas": simulated_ns / wall * 86400.0,
        "replicas_blown_up": sum(1 for s in stability if s["non_finite_frames"] or s["ca_ca_outside_band_frames"]
                                 or s["heavy_atoms_closer_than_1A_frames"]),
        "stability": stability,
        "stability_by_jump": by_jump,
        "stability_table": stability_table(by_jump),
        "summary_table": summary_table(metrics),
    }
    (out / "evaluation.json").write_text(json.dumps(result, indent=1))
    return result
