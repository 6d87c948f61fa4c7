"""Compare generated dynamics with reference MD.

    python -m openmm_equijump.analyze --topology T.pdb --reference R1.dcd [R2.dcd ...] \\
        --generated G1.dcd [G2.dcd ...] --native N.pdb --out DIR [--generated-topology G.pdb]

Writes DIR/metrics.json (every number: settings, bins, counts, divergences raw and MSM-reweighted,
the noise floor) and PNG figures, and prints the divergences beside their noise floor. Settings
left unset are chosen from the data (openmm_equijump.analysis.settings); ``--preset paper`` uses the
EquiJump paper's (for microseconds of reference MD).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mdtraj as md

from .analysis import compare_dynamics, load_ensemble
from .analysis.plots import write_figures
from .analysis.report import summary_table, write_metrics
from .analysis.settings import PRESETS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m openmm_equijump.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", required=True, help="topology of the reference trajectories (PDB, PSF, ...)")
    parser.add_argument("--reference", nargs="+", required=True, help="reference MD trajectories")
    parser.add_argument("--generated", nargs="+", required=True, help="generated trajectories (replicas)")
    parser.add_argument("--generated-topology", help="topology of the generated trajectories "
                        "(default: --topology); may lack hydrogens and solvent")
    parser.add_argument("--native", required=True, help="native structure (C-alphas are used)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="data",
                        help="'data': lags and clusters chosen from the data length (default); "
                             "'paper': TICA lag 2 ns, 100 clusters, MSM lag 45 ns")
    parser.add_argument("--reference-frame-ps", type=float, help="reference frame interval (default: from the files)")
    parser.add_argument("--generated-frame-ps", type=float, help="generated frame interval (default: from the files)")
    parser.add_argument("--stride-ps", type=float, help="keep one frame per this many ps (default: all)")
    parser.add_argument("--tica-lag-ps", type=float)
    parser.add_argument("--n-tics", type=int)
    parser.add_argument("--n-clusters", type=int)
    parser.add_argument("--msm-lag-ps", type=float)
    parser.add_argument("--n-bins", type=int)
    parser.add_argument("--chemistry-frames", type=int)
    parser.add_argument("--clash-overlap-A", dest="clash_overlap_A", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-noise-floor", dest="noise_floor", action="store_false", default=None,
                        help="skip comparing two parts of the reference")
    parser.add_argument("--no-figures", dest="figures", action="store_false")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {name: value for name, value in vars(args).items()
                 if value is not None and name in (
                     "reference_frame_ps", "generated_frame_ps", "stride_ps", "tica_lag_ps", "n_tics", "n_clusters",
                     "msm_lag_ps", "n_bins", "chemistry_frames", "clash_overlap_A", "seed", "noise_floor")}
    settings = PRESETS[args.preset](**overrides)
    reference_topology = md.load_topology(args.topology)
    reference = load_ensemble(args.reference, args.topology, reference_topology,
                              settings.reference_frame_ps, "reference")
    generated = load_ensemble(args.generated, args.generated_topology or args.topology, reference_topology,
                              settings.generated_frame_ps, "generated")
    metrics = compare_dynamics(reference, generated, md.load(args.native), settings)
    write_metrics(metrics, args.out / "metrics.json")
    if args.figures:
        write_figures(metrics, args.out)
    print(summary_table(metrics))
    print(f"wrote {args.out / 'metrics.json'}" + (" and figures" if args.figures else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
