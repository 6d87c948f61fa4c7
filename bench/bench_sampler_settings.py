"""Sampler settings against dynamics quality and jump time: the steps x eps table of the docs.

    python bench/bench_sampler_settings.py --out runs/sampler_settings \
        [--model chignolin] [--replicas 20] [--jumps 100] [--settings sde:100:1 sde:50:1 sde:20:1 ode:20]

Each setting (mode:latent_steps[:eps]) rolls out the same replicas from the same structure with the same
seeds through ``python -m openmm_equijump.evaluate`` (one batch, stability check, analysis against the
model's reference MD), and one row reports: seconds per batched jump, the Jensen-Shannon divergences (raw,
natural log) of the observables and the chemistry, the number of replicas that broke, and on the last row
the reference's own noise floor. Every setting's full output stays in ``--out/<setting>/``; the table is
also written to ``--out/table.md``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from openmm_equijump.analysis.compare import CHEMISTRY, OBSERVABLES
from openmm_equijump.jobs.evaluate import EvaluateConfig, evaluate
from openmm_equijump.model.sampler import SamplerConfig

COLUMNS = list(OBSERVABLES) + list(CHEMISTRY)


def parse_setting(text: str) -> SamplerConfig:
    """'sde:100:1.0' or 'ode:20' -> SamplerConfig."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"setting {text!r}: expected mode:latent_steps[:eps], e.g. sde:50:0.5")
    eps = float(parts[2]) if len(parts) == 3 else SamplerConfig.eps
    return SamplerConfig(latent_steps=int(parts[1]), eps=eps, mode=parts[0])


def label(sampler: SamplerConfig) -> str:
    return (f"{sampler.mode} {sampler.latent_steps} steps" +
            (f" eps {sampler.eps:g}" if sampler.mode == "sde" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="chignolin")
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--jumps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settings", type=parse_setting, nargs="+",
                        default=[parse_setting(s) for s in ("sde:100:1", "sde:50:1", "sde:50:0.5", "sde:20:1",
                                                            "sde:20:0.5", "ode:20")])
    args = parser.parse_args()
    out = Path(args.out)
    header = (f"| sampler | s / jump (batch {args.replicas}) | " + " | ".join(COLUMNS) + " | replicas broken |")
    rows = [header, "|" + "---|" * (len(COLUMNS) + 3)]
    floor = None
    for sampler in args.settings:
        folder = out / label(sampler).replace(" ", "_")
        result = evaluate(EvaluateConfig(out=str(folder), model=args.model, replicas=args.replicas,
                                         jumps=args.jumps, seed=args.seed, sampler=sampler))
        metrics = json.loads((folder / "analysis" / "metrics.json").read_text())
        js = metrics["generated_vs_reference"]["divergences_raw"]
        floor = metrics["noise_floor"]["divergences_raw"] if metrics["noise_floor"] else floor
        rows.append(f"| {label(sampler)} | {result['seconds_per_batched_jump']:.2f} | "
                    + " | ".join(f"{js[c]:.3f}" for c in COLUMNS)
                    + f" | {result['replicas_blown_up']} of {args.replicas} |")
        print(rows[-1], flush=True)
    if floor:
        rows.append("| MD noise floor | - | " + " | ".join(f"{floor[c]:.3f}" for c in COLUMNS) + " | - |")
    table = "\n".join(rows)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
