"""The paper's transport comparison (its Table 1) on chignolin: DDPM, flow matching, the one-sided and the
two-sided interpolant, same network, same data, same budget.

For every transport and every sigma_P^2 it trains a model (``openmm_equijump.training.loop``), rolls it out from the
native structure in a batch of replicas and compares the jumps with reference MD it has not seen
(``openmm_equijump.jobs.evaluate``: TICA, MSM reweighting, Jensen-Shannon divergences), then writes
``<out>/report.md`` (the table: MSM-reweighted JS divergence of TIC1, TIC2, RMSD, GDT, Rg and FNC per transport
and sigma_P^2, the reference's noise floor beside them, and how many replicas blew up: ``analysis.stability``)
and ``<out>/report.json``. Each run keeps its own folder
(``<out>/<transport>_sigmaP2_<s>/``: ``train/`` and ``evaluate/``); a finished one is reused when the script is
run again with the same out folder.

Samplers: the stochastic one for the interpolants and DDPM (ancestral), the ODE for flow matching, as in the
paper. Training data: the chignolin MD shipped for the next model (``pretrained/chignolin/training_md``; it grows
while its MD runs, so the report lists the files and their frame counts); reference: the shared MD shipped
beside the model (``pretrained/chignolin/reference``), which no model here trains on.

Default budget (one CPU core): 2000 steps at batch 8 of H = 16 with 2 + 2 blocks, 10 replicas x 50 jumps of
50 latent steps; about 4 minutes per model, 15 for the four transports. The minimal run (last command below)
takes about a minute and proves only that the pipeline works.

    python examples/compare_transports.py --out runs/transports                       # defaults below
    python examples/compare_transports.py --out runs/transports --sigma-p2 1 3 5      # the paper's sweep
    python examples/compare_transports.py --out /tmp/t --steps 20 --jumps 5 --replicas 2 --latent-steps 10
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import mdtraj

from openmm_equijump.analysis.compare import OBSERVABLES
from openmm_equijump.jobs.evaluate import EvaluateConfig, evaluate
from openmm_equijump.model.transports import TransportConfig
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.runtime.load import PRETRAINED_DIR, reference_md
from openmm_equijump.model.sampler import SamplerConfig
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train
from openmm_equijump.model.transports import TRANSPORTS

CHIGNOLIN = PRETRAINED_DIR / "chignolin"
#: the paper's order of Table 1
ORDER = ("ddpm", "flow_matching", "one_sided", "two_sided")
#: sampler mode per transport (the paper: ODE for flow matching, stochastic for the others)
MODE = {"ddpm": "sde", "flow_matching": "ode", "one_sided": "sde", "two_sided": "sde"}
LABEL = {"tic1": "TIC1", "tic2": "TIC2", "rmsd": "RMSD", "gdt_ts": "GDT", "rg": "RG", "fnc": "FNC"}


def run_one(kind: str, sigma_P: float, args: argparse.Namespace, folder: Path) -> dict:
    """Train one transport at anchor noise variance sigma_P (sigma_V^2 = 1), roll it out, compare; the
    divergences as in metrics.json (reused from a finished earlier run in ``folder``)."""
    metrics_path = folder / "evaluate" / "analysis" / "metrics.json"
    diverged_path = folder / "diverged.txt"
    if diverged_path.is_file():
        return {"diverged": diverged_path.read_text().strip()}
    if not metrics_path.is_file():
        training = Path(args.training)
        config = TrainConfig(
            datasets=[DatasetConfig(str(training / "heavy_atoms.pdb"), sorted(str(p) for p in training.glob("*.xtc")))],
            steps=args.steps, batch_size=args.batch_size, validate_every=max(args.steps // 4, 1),
            checkpoint_every=args.steps, seed=args.seed, temperature_K=350.0,
            model=ModelConfig(H=args.H, conditioner_layers=args.conditioner_layers, header_layers=args.header_layers),
            transport=TransportConfig(kind=kind, sigma_P=sigma_P, sigma_V=1.0))
        try:
            train(config, folder / "train", progress=False)
        except FloatingPointError as error:  # a transport that diverges within the budget is a result too
            diverged_path.write_text(f"{error}\n")
            return {"diverged": str(error)}
        reference_topology, reference = reference_md("chignolin")
        sampler = SamplerConfig(latent_steps=args.latent_steps, mode=MODE[kind],
                                projection_iterations=args.projection_iterations)
        evaluate(EvaluateConfig(out=str(folder / "evaluate"), model=str(folder / "train"),
                                pdb=str(CHIGNOLIN / "structure.pdb"), replicas=args.replicas, jumps=args.jumps,
                                seed=args.seed + 1, sampler=sampler,
                                reference_topology=str(reference_topology), reference=[str(p) for p in reference]))
    evaluation = json.loads((folder / "evaluate" / "evaluation.json").read_text())
    return {**json.loads(metrics_path.read_text()), "replicas_blown_up": evaluation["replicas_blown_up"]}


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(results: dict, args: argparse.Namespace) -> str:
    """The Table-1-style markdown: rows observables, columns transport x sigma_P^2, then the noise floor."""
    columns = [(kind, s) for kind in ORDER if kind in args.transports for s in args.sigma_p2]
    header = "| | " + " | ".join(f"{kind} {s:g}" for kind, s in columns) + " | MD noise floor |"
    lines = ["JS divergence (natural log), MSM-reweighted, of each model's jumps against the reference MD; "
             "columns: transport and sigma_P^2 (sigma_V^2 = 1).", "", header,
             "|" + "---|" * (len(columns) + 2)]
    finished = [results[c] for c in columns if "diverged" not in results[c]]
    floor = finished[0]["noise_floor"] if finished else None
    for name in OBSERVABLES:
        row = ["training diverged" if "diverged" in results[c] else
               _cell(results[c]["generated_vs_reference"]["divergences_reweighted"][name]) for c in columns]
        noise = _cell(floor["divergences_reweighted"][name]) if floor else "-"
        lines.append(f"| {LABEL[name]} | " + " | ".join(row) + f" | {noise} |")
    lines.append(f"| replicas blown up (of {args.replicas}) | "
                 + " | ".join(str(results[c].get("replicas_blown_up", "-")) for c in columns) + " | |")
    diverged = [f"{kind} {s:g}: {results[(kind, s)]['diverged']}" for kind, s in columns
                if "diverged" in results[(kind, s)]]
    lines += [""] + diverged if diverged else []
    frames = {}
    for path in sorted(Path(args.training).glob("*.xtc")):
        with mdtraj.formats.XTCTrajectoryFile(str(path)) as handle:
            frames[path.name] = len(handle)
    lines += ["", f"Budget: {args.steps} training steps at batch {args.batch_size}, H = {args.H}, "
              f"{args.conditioner_layers} conditioner / {args.header_layers} header blocks, seed {args.seed}; "
              f"rollouts: {args.replicas} replicas x {args.jumps} jumps of 100 ps, {args.latent_steps} latent steps "
              f"(ODE for flow matching, stochastic otherwise), seed {args.seed + 1}.",
              f"Training MD: {args.training}, frames per file {json.dumps(frames)}.",
              f"Analysis settings (resolved from the data): "
              f"{json.dumps(finished[0]['resolved_settings']) if finished else '-'}",
              f"Noise floor: {json.dumps(finished[0]['noise_floor_split']) if finished else '-'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (runs are reused from it)")
    parser.add_argument("--transports", nargs="+", default=list(ORDER), choices=sorted(TRANSPORTS))
    parser.add_argument("--sigma-p2", nargs="+", type=float, default=[3.0],
                        help="anchor noise variances sigma_P^2 (the paper: 1 3 5)")
    parser.add_argument("--training", default=str(CHIGNOLIN / "training_md"),
                        help="folder of the training MD: heavy_atoms.pdb and *.xtc")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per model")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--H", type=int, default=16)
    parser.add_argument("--conditioner-layers", type=int, default=2)
    parser.add_argument("--header-layers", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--jumps", type=int, default=50)
    parser.add_argument("--latent-steps", type=int, default=50)
    parser.add_argument("--projection-iterations", type=int, default=SamplerConfig.projection_iterations,
                        help="covalent projection after each jump (0: raw jumps, as the README's table)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = {}
    for kind in ORDER:
        if kind not in args.transports:
            continue
        for sigma_P in args.sigma_p2:
            print(f"{kind}, sigma_P^2 = {sigma_P:g}", flush=True)
            results[(kind, sigma_P)] = run_one(kind, sigma_P, args, out / f"{kind}_sigmaP2_{sigma_P:g}")
    table = report(results, args)
    (out / "report.md").write_text(table + "\n")
    (out / "report.json").write_text(json.dumps({f"{k} {s:g}": v if "diverged" in v else
                                                 {"generated_vs_reference": v["generated_vs_reference"],
                                                  "replicas_blown_up": v["replicas_blown_up"]}
                                                 for (k, s), v in results.items()}, indent=1))
    print(table)


if __name__ == "__main__":
    main()
