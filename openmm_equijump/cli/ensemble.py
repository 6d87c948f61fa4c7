"""``python -m openmm_equijump.ensemble`` (``equijump-ensemble``): walk-jump chains against reference MD, with
OpenMM MD of the same System run beside them; divergences against CPU seconds (``jobs.ensemble``).

    python -m openmm_equijump.ensemble --model runs/walk_jump --pdb structure.pdb --native structure.pdb \\
        --reference-topology ref.pdb --reference ref1.xtc ref2.xtc [--campaign data/md/campaign.yaml] \\
        --chains 20 --samples 2000 --walk-steps 10 --out runs/ensemble
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Optional, Sequence

from ..analysis.divergence import JS_PAIR_LABEL, js_pair
from ..config import config_from_dict, load_yaml
from ..jobs.ensemble import EnsembleConfig, run_ensemble
from . import ArgumentParser, add_config_flag, command, given

FIELDS = ("model", "pdb", "native", "out", "reference_topology", "reference", "campaign", "protein", "chains",
          "samples", "seed", "md", "md_frame_ps")
WALK = ("walk_steps", "delta", "friction", "mass")


def parse_args(argv: Optional[Sequence[str]] = None) -> EnsembleConfig:
    parser = ArgumentParser(prog="python -m openmm_equijump.ensemble", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flag(parser, "EnsembleConfig")
    parser.add_argument("--model", help="walk-jump model: shipped name, training run folder or checkpoint")
    parser.add_argument("--pdb", help="start structure of every chain and of the MD (all atoms)")
    parser.add_argument("--native", help="native structure (C-alphas used)")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--reference-topology", help="topology of --reference")
    parser.add_argument("--reference", nargs="+", help="reference MD trajectories")
    parser.add_argument("--campaign", help="campaign file whose replicas (after burn-in) join the reference")
    parser.add_argument("--protein", help="the campaign's protein (default chignolin)")
    parser.add_argument("--chains", type=int, help="walk-jump chains (default 20)")
    parser.add_argument("--samples", type=int, help="samples per chain (default 2000)")
    parser.add_argument("--walk-steps", type=int, help="walk steps per sample (default 10)")
    parser.add_argument("--delta", type=float, help="BAOAB step (default: sigma)")
    parser.add_argument("--friction", type=float, help="damping per walk step (default 1.0)")
    parser.add_argument("--mass", type=float, help="walk mass (default 1.0)")
    parser.add_argument("--seed", type=int, help="chain r uses seed + r (default 1)")
    parser.add_argument("--no-md", dest="md", action="store_const", const=False, help="no MD beside the sampler")
    parser.add_argument("--md-frame-ps", type=float)
    args = parser.parse_args(argv)
    overrides = given(args, FIELDS)
    config = (load_yaml(EnsembleConfig, args.config, overrides) if args.config
              else config_from_dict(EnsembleConfig, overrides, where="command line"))
    walk = given(args, WALK)
    if walk:
        config.walk = replace(config.walk, **walk)
    return config


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config = parse_args(argv)
    result = run_ensemble(config)
    comparison = result["walk_jump"]
    print(f"{result['chains']} chains x {result['walk_steps_per_chain']} walk steps; sound chains "
          f"{result['sound_chains']}/{result['chains']}; sampler {result['sampler_cpu_seconds']:.0f} CPU s"
          + (f"; MD {result['md']['ns']:.2f} ns in {result['md']['cpu_seconds']:.0f} CPU s" if "md" in result else ""))
    print(f"{JS_PAIR_LABEL} (distance = sqrt(divergence), scipy's jensenshannon)")
    print(f"{'observable':<10} {'walk-jump':>16} {'MD beside':>16} {'noise floor':>16}")
    for name, value in comparison["divergences"].items():
        md_value = result["md"]["divergences"][name] if "md" in result else None
        print(f"{name:<10} {js_pair(value):>16} {js_pair(md_value):>16} {js_pair(comparison['noise_floor'][name]):>16}")
    print(f"wrote {config.out}")
    return 0
