"""How faithful is a model's dynamics? ``python -m openmm_equijump.evaluate``.

Runs R replicas of J jumps from the model's structure in one batch (``replicas.run_replicas``), checks every
replica for blow-ups (``analysis.stability``), and compares the jumps with reference MD through the analysis
(TICA, MSM reweighting, Jensen-Shannon divergences beside the MD noise floor). This is how the shipped model's
card was measured:

    python -m openmm_equijump.evaluate --model chignolin --replicas 20 --jumps 100 --out runs/eval

Writes ``replica_<r>.dcd`` (one frame per jump), ``evaluation.json`` (config, speed, stability per replica),
``analysis/metrics.json`` and the analysis figures.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit

from .analysis import compare_dynamics, load_ensemble
from .analysis.plots import write_figures
from .analysis.report import summary_table, write_metrics
from .analysis.stability import stability_by_frame, stability_report, stability_table
from .models import PRETRAINED_DIR, load_model, reference_md
from .replicas import run_replicas
from .sampler import SamplerConfig

@dataclass
class EvaluateConfig:
    """What to roll out and what to compare it with; saved inside ``evaluation.json``."""

    out: str
    model: str = "chignolin"
    pdb: str = str(PRETRAINED_DIR / "chignolin" / "structure.pdb")
    replicas: int = 20
    jumps: int = 100
    seed: int = 1
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    reference_topology: Optional[str] = None     # None with no reference: the MD shipped beside the model
    reference: list[str] = field(default_factory=list)


def evaluate(config: EvaluateConfig) -> dict:
    """Roll out, check and compare (module docstring); returns the content of ``evaluation.json``."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    pdb = app.PDBFile(config.pdb)
    module = load_model(config.model, pdb.topology, sampler=config.sampler)
    start = np.asarray(pdb.positions.value_in_unit(unit.nanometer), dtype=np.float32)
    t0 = time.perf_counter()
    frames = run_replicas(module, np.repeat(start[None], config.replicas, axis=0), config.jumps, config.seed,
                          keep_going=True)
    wall = time.perf_counter() - t0

    topology = mdtraj.Topology.from_openmm(pdb.topology)
    replicas = [mdtraj.Trajectory(frames[r], topology) for r in range(config.replicas)]
    stability = [stability_report(replica) for replica in replicas]
    report_frames = sorted({f for f in (0, 1, 4, 9, 19, 49, 99, config.jumps - 1) if f < config.jumps})
    by_jump = stability_by_frame(replicas, report_frames)
    paths = []
    for r in range(config.replicas):
        finite = frames[r][np.isfinite(frames[r]).all(axis=(1, 2))]  # a blown-up replica keeps its frames before
        if len(finite) == 0:
            continue
        path = out / f"replica_{r}.dcd"
        with open(path, "wb") as handle:
            dcd = app.DCDFile(handle, pdb.topology, module.jump_ps * unit.picosecond)
            for x in finite:
                dcd.writeModel(x * unit.nanometer)
        paths.append(str(path))

    if config.reference:
        reference_files = (config.reference_topology or config.pdb, config.reference)
    else:
        reference_files = reference_md(config.model)
        if reference_files is None:
            raise ValueError(f"no reference MD ships with model {config.model!r}; pass --reference (and "
                             "--reference-topology)")
    reference_topology = mdtraj.load_topology(str(reference_files[0]))
    reference = load_ensemble(reference_files[1], reference_files[0], reference_topology, what="reference")
    generated = load_ensemble(paths, config.pdb, reference_topology)
    metrics = compare_dynamics(reference, generated, mdtraj.load(config.pdb))
    write_metrics(metrics, out / "analysis" / "metrics.json")
    write_figures(metrics, out / "analysis")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m openmm_equijump.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default=EvaluateConfig.model, help="shipped name, run folder or checkpoint")
    parser.add_argument("--pdb", default=EvaluateConfig.pdb, help="start structure (its topology binds the model)")
    parser.add_argument("--replicas", type=int, default=EvaluateConfig.replicas)
    parser.add_argument("--jumps", type=int, default=EvaluateConfig.jumps)
    parser.add_argument("--seed", type=int, default=EvaluateConfig.seed)
    parser.add_argument("--latent-steps", type=int, default=SamplerConfig.latent_steps)
    parser.add_argument("--eps", type=float, default=SamplerConfig.eps)
    parser.add_argument("--mode", choices=("sde", "ode"), default=SamplerConfig.mode)
    parser.add_argument("--projection-iterations", type=int, default=SamplerConfig.projection_iterations,
                        help="sweeps of the covalent-geometry projection after each jump (0: the model's raw jumps)")
    parser.add_argument("--reference-topology", default=None, help="topology of --reference")
    parser.add_argument("--reference", nargs="+", default=None, help="reference MD (default: the shipped one)")
    args = parser.parse_args(argv)
    config = EvaluateConfig(out=args.out, model=args.model, pdb=args.pdb, replicas=args.replicas, jumps=args.jumps,
                            seed=args.seed, sampler=SamplerConfig(args.latent_steps, args.eps, args.mode,
                                                                  projection_iterations=args.projection_iterations))
    if args.reference:
        config.reference, config.reference_topology = args.reference, args.reference_topology
    result = evaluate(config)
    print(result["stability_table"])
    print(result["summary_table"])
    print(f"{config.replicas} replicas x {config.jumps} jumps in one batch: {result['wall_s']:.0f} s, "
          f"{result['equijump_ns_per_day_all_replicas']:.0f} ns/day summed over replicas "
          f"({config.sampler.latent_steps} latent steps, {config.sampler.mode}); "
          f"replicas that blew up: {result['replicas_blown_up']} of {config.replicas}")


if __name__ == "__main__":
    main()
