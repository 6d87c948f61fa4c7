"""``python -m openmm_equijump.analyze`` (``equijump-analyze``): generated dynamics against reference MD.

    python -m openmm_equijump.analyze --topology T.pdb --reference R1.dcd [R2.dcd ...] \\
        --generated G1.dcd [G2.dcd ...] --native N.pdb --out DIR [--generated-topology G.pdb]

Writes DIR/metrics.json (every number: settings, bins, counts, divergences raw and MSM-reweighted, the noise
floor), PNG figures and ``analyze_config.yaml`` (``--config`` reads it back), and prints the divergences
beside their noise floor. Settings left unset are chosen from the data (``analysis.settings``); ``--preset
paper`` uses the EquiJump paper's (for microseconds of reference MD). ``--ensemble`` compares the generated
frames as samples without time (walk-jump chains; ``analysis.ensemble``) into DIR/ensemble_metrics.json.

``--tps`` judges transition paths (``analysis.tps_run``): the reference's PCCA+ metastates, then either start and
end frames for ``interpolate`` (without --generated) or the paths' valid rate, path probabilities and metastate
occupancy beside reference and oracle MD, into DIR/tps_report.yaml, DIR/tps.png and DIR/tps_config.yaml:

    python -m openmm_equijump.analyze --tps --topology T.pdb --reference R1.xtc R2.xtc --out tps/ [--states 3 7]
    python -m openmm_equijump.analyze --tps --topology T.pdb --reference R1.xtc R2.xtc --out tps/ \
        --generated paths/path_*.dcd --generated-topology paths/topology.pdb [--oracle O.xtc --oracle-ns 1 5]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from ..analysis.ensemble import EnsembleComparison, ensemble_summary
from ..analysis.report import summary_table
from ..analysis.run import CONFIG_NAME, AnalyzeConfig, analyse
from ..analysis.settings import PRESETS, AnalysisSettings
from ..analysis.tps_run import CONFIG_NAME as TPS_CONFIG_NAME, REPORT_NAME as TPS_REPORT_NAME, TPSConfig, \
    TPSSettings, run_tps
from ..config import config_from_dict, config_to_dict, load_yaml, save_yaml
from . import ArgumentParser, add_config_flag, command, given

FIELDS = ("topology", "reference", "generated", "native", "out", "generated_topology", "figures", "ensemble")
SETTINGS = ("reference_frame_ps", "generated_frame_ps", "stride_ps", "tica_lag_ps", "n_tics", "n_clusters",
            "msm_lag_ps", "n_bins", "chemistry_frames", "clash_overlap_A", "seed", "noise_floor",
            "generated_burn_in_ps")
TPS_FIELDS = ("topology", "reference", "out", "generated", "generated_topology", "oracle", "oracle_topology", "native",
              "figures")
TPS_SETTINGS = ("n_clusters", "n_metastates", "tica_lag_ps", "n_tics", "msm_lag_ps", "states", "min_flux", "bridges",
                "endpoints", "oracle_ns", "seed", "reference_frame_ps", "generated_frame_ps")


def parse_args(argv: Optional[Sequence[str]] = None) -> AnalyzeConfig | TPSConfig:
    parser = ArgumentParser(prog="python -m openmm_equijump.analyze", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flag(parser, "AnalyzeConfig")
    parser.add_argument("--topology", help="topology of the reference trajectories (PDB, PSF, ...)")
    parser.add_argument("--reference", nargs="+", help="reference MD trajectories")
    parser.add_argument("--generated", nargs="+", help="generated trajectories (replicas)")
    parser.add_argument("--generated-topology", help="topology of the generated trajectories "
                        "(default: --topology); may lack hydrogens and solvent")
    parser.add_argument("--native", help="native structure (C-alphas are used; with --tps: each metastate's median "
                        "C-alpha RMSD to it is reported, to name the folded and unfolded metastates)")
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="'data': lags and clusters chosen from the data length (default); "
                             "'paper': TICA lag 2 ns, 100 clusters, MSM lag 45 ns")
    parser.add_argument("--reference-frame-ps", type=float, help="reference frame interval (default: from the files)")
    parser.add_argument("--generated-frame-ps", type=float, help="generated frame interval (default: from the files)")
    parser.add_argument("--stride-ps", type=float, help="keep one frame per this many ps (default: all)")
    parser.add_argument("--generated-burn-in-ps", type=float,
                        help="leave out this much of the start of every generated trajectory (default 0)")
    parser.add_argument("--tica-lag-ps", type=float)
    parser.add_argument("--n-tics", type=int)
    parser.add_argument("--n-clusters", type=int)
    parser.add_argument("--msm-lag-ps", type=float)
    parser.add_argument("--n-bins", type=int)
    parser.add_argument("--chemistry-frames", type=int)
    parser.add_argument("--clash-overlap-A", dest="clash_overlap_A", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-noise-floor", dest="noise_floor", action="store_const", const=False,
                        help="skip comparing two parts of the reference")
    parser.add_argument("--no-figures", dest="figures", action="store_const", const=False)
    parser.add_argument("--ensemble", action="store_const", const=True,
                        help="compare the generated frames as samples: no MSM reweighting, no lag, no time "
                             "(walk-jump chains); adds phi/psi and chi1")
    tps = parser.add_argument_group("transition paths (--tps)")
    tps.add_argument("--tps", action="store_true", help="judge transition paths (interpolate's) instead; without "
                                                        "--generated, write start and end frames for interpolate")
    tps.add_argument("--n-metastates", type=int, help=f"PCCA+ metastates (default {TPSSettings.n_metastates}); "
                                                      f"--n-clusters defaults to {TPSSettings.n_clusters} here")
    tps.add_argument("--states", type=int, nargs=2, metavar=("START", "END"),
                     help="start and end metastates (default: the pair with the least flux)")
    tps.add_argument("--min-flux", type=float, help=f"least flux of a start-end pair (default {TPSSettings.min_flux:g})")
    tps.add_argument("--bridges", type=int, help=f"paths drawn from each MSM (default {TPSSettings.bridges})")
    tps.add_argument("--endpoints", type=int, help="start and end frames to write without --generated (default 1)")
    tps.add_argument("--oracle", nargs="+", help="held-out MD: bridges of its MSM are judged beside the paths")
    tps.add_argument("--oracle-topology", help="topology of --oracle (default --topology)")
    tps.add_argument("--oracle-ns", type=float, nargs="+", help="durations (ns) to cut every oracle trajectory to, "
                                                               "one MSM each (default: whole)")
    args = parser.parse_args(argv)
    if args.tps:
        return tps_config(parser, args)
    overrides, settings = given(args, FIELDS), given(args, SETTINGS)
    if args.config:
        config = load_yaml(AnalyzeConfig, args.config, overrides)
        base = config_to_dict(config.settings)
    else:
        missing = [f"--{name}" for name in ("topology", "reference", "generated", "native", "out")
                   if name not in overrides]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)}")
        config = config_from_dict(AnalyzeConfig, overrides, where="command line")
        base = {}
    if args.preset == "paper":  # the paper's settings, the flags given on top
        config.settings = AnalysisSettings.paper(**settings)
    else:
        config.settings = config_from_dict(AnalysisSettings, {**base, **settings}, where="command line")
    return config


def tps_config(parser: ArgumentParser, args: argparse.Namespace) -> TPSConfig:
    """The TPSConfig of ``--tps``: ``--config`` (a tps_config.yaml) and the flags given on top."""
    overrides, settings = given(args, TPS_FIELDS), given(args, TPS_SETTINGS)
    if args.config:
        config = load_yaml(TPSConfig, args.config, overrides)
        base = config_to_dict(config.settings)
    else:
        missing = [f"--{name}" for name in ("topology", "reference", "out") if name not in overrides]
        if missing:
            parser.error(f"--tps needs {', '.join(missing)}")
        config = config_from_dict(TPSConfig, overrides, where="command line")
        base = {}
    config.settings = config_from_dict(TPSSettings, {**base, **settings}, where="command line")
    return config


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config = parse_args(argv)
    if isinstance(config, TPSConfig):
        report = run_tps(config)
        save_yaml(config, Path(config.out) / TPS_CONFIG_NAME)
        print(report["table"])
        print(f"wrote {Path(config.out) / TPS_REPORT_NAME}")
        return 0
    metrics = analyse(config)
    save_yaml(config, Path(config.out) / CONFIG_NAME)
    if isinstance(metrics, EnsembleComparison):
        print(ensemble_summary(metrics))
        print(f"wrote {Path(config.out) / 'ensemble_metrics.json'}")
        return 0
    print(summary_table(metrics))
    print(f"wrote {Path(config.out) / 'metrics.json'}" + (" and figures" if config.figures else ""))
    return 0
