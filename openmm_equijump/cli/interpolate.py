"""``python -m openmm_equijump.interpolate`` (``equijump-interpolate``): transition paths between two structures
from an interpolation window model (``jobs.interpolate``).

    python -m openmm_equijump.interpolate --model runs/blocks_interp --start A.pdb --end B.pdb --paths 100 \\
        --out runs/paths [--steps 100 --seed 1 --batch-size 10 --topology all_atoms.pdb --device auto]
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ..config import config_from_dict, load_yaml
from ..jobs import interpolate as job
from ..jobs.interpolate import InterpolateConfig, run_interpolate
from . import ArgumentParser, add_config_flag, add_temperature_flag, command, given

FIELDS = ("model", "start", "end", "out", "paths", "steps", "seed", "batch_size", "topology", "projection_iterations",
          "temperature_K", "device")


def parse_args(argv: Optional[Sequence[str]] = None) -> InterpolateConfig:
    defaults = InterpolateConfig(model="", start="", end="", out="")
    parser = ArgumentParser(prog="python -m openmm_equijump.interpolate", description=job.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flag(parser, "InterpolateConfig")
    parser.add_argument("--model", help="a --method blocks --task interpolation training run (folder or checkpoint)")
    parser.add_argument("--start", help="start structure (PDB): frame 0 of every path")
    parser.add_argument("--end", help="end structure (PDB) of the same protein: the last frame of every path")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--paths", type=int, help=f"paths to generate (default {defaults.paths})")
    parser.add_argument("--steps", type=int, help=f"ancestral sampling steps per path (default {defaults.steps})")
    parser.add_argument("--seed", type=int, help=f"path k uses seed + k (default {defaults.seed})")
    parser.add_argument("--batch-size", type=int, help=f"paths per model call (default {defaults.batch_size})")
    parser.add_argument("--topology", help="PDB whose atoms the paths carry (default: --start); hydrogens, OXT and "
                                           "caps are rebuilt as they sit in it")
    parser.add_argument("--projection-iterations", type=int,
                        help=f"covalent projection sweeps per frame (default {defaults.projection_iterations})")
    add_temperature_flag(parser, "training temperature (K), only for a run that does not record it")
    parser.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda, cuda:1, ...")
    args = parser.parse_args(argv)
    overrides = given(args, FIELDS)
    if args.config:
        return load_yaml(InterpolateConfig, args.config, overrides)
    missing = [f"--{name}" for name in ("model", "start", "end", "out") if name not in overrides]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    return config_from_dict(InterpolateConfig, overrides, where="command line")


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config = parse_args(argv)
    written = run_interpolate(config)
    print(f"wrote {len(written)} paths to {config.out} ({job.TOPOLOGY_NAME}, path_<k>.dcd, {job.CONFIG_NAME})")
    return 0
