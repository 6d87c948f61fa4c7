"""End-to-end analysis of the full shared chignolin MD, timed: target under a minute on 2 cores.

Reference: seed101 (18.7 ns); generated: seed1 + seed2 (9 ns, two independent runs standing in for a
model's replicas); noise floor: the two halves of seed101. Prints the divergence table and the wall
time of each stage (loading, analysis, figures) beside the total.

    OMP_NUM_THREADS=1 python bench/bench_analysis.py [--out DIR]
"""
from __future__ import annotations

import time

_STARTED = time.perf_counter()  # the imports below (mdtraj, deeptime, matplotlib) take seconds: count them

import argparse  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import mdtraj as md  # noqa: E402

from openmm_equijump.analysis import AnalysisSettings, compare_dynamics, load_ensemble  # noqa: E402
from openmm_equijump.analysis.plots import write_figures  # noqa: E402
from openmm_equijump.analysis.report import summary_table, write_metrics  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data directory")
    parser.add_argument("--out", type=Path,
                        help="where to keep metrics.json and figures (default: a temporary directory)")
    args = parser.parse_args()
    md_dir = args.data / "md"
    topology_path = md_dir / "chignolin_amber14.pdb"
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_analysis_"))

    stages = {"imports": time.perf_counter() - _STARTED}
    start = time.perf_counter()
    topology = md.load_topology(str(topology_path))
    reference = load_ensemble([md_dir / "chignolin_obc2_350K_seed101.dcd"], topology_path, topology, what="reference")
    generated = load_ensemble([md_dir / f"chignolin_obc2_350K_seed{s}.dcd" for s in (1, 2)], topology_path, topology)
    native = md.load(str(args.data / "structures" / "CLN025.pdb"))
    stages["load"] = time.perf_counter() - start

    start = time.perf_counter()
    metrics = compare_dynamics(reference, generated, native, AnalysisSettings())
    write_metrics(metrics, out / "metrics.json")
    stages["analysis"] = time.perf_counter() - start

    start = time.perf_counter()
    write_figures(metrics, out)
    stages["figures"] = time.perf_counter() - start

    total = sum(stages.values())
    print(summary_table(metrics))
    print(f"frames analysed: reference {reference.n_frames}, generated {generated.n_frames}, "
          f"noise floor {metrics.noise_floor_split['frames_a']} vs {metrics.noise_floor_split['frames_b']}")
    print("wall time: " + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in stages.items())
          + f"; total {total:.1f} s = {total / 60:.2f} of the 60 s target (outputs in {out})")


if __name__ == "__main__":
    main()
