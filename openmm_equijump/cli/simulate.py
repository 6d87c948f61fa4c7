"""``python -m openmm_equijump.simulate`` (``equijump-simulate``): the main job, ``jobs.simulate``.

    python -m openmm_equijump.simulate
    python -m openmm_equijump.simulate --pdb protein.pdb --model runs/mine --jumps 500 --replicas 4 --out runs/ej
    python -m openmm_equijump.simulate --config runs/ej/simulate_config.yaml --jumps 1000
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ..config import config_from_dict, config_to_dict, load_yaml
from ..jobs import simulate as job
from ..jobs.simulate import SimulateConfig, simulate
from . import ArgumentParser, add_config_flag, add_temperature_flag, command, given

#: Flags that set a SimulateConfig field of the same name.
FIELDS = ("pdb", "model", "jumps", "replicas", "batch_size", "out", "latent_steps", "seed", "temperature_K",
          "platform", "device", "threads", "compiled", "md_seconds", "compare", "prepare")


def parse_args(argv: Optional[Sequence[str]] = None) -> SimulateConfig:
    return parse(argv)[0]


def parse(argv: Optional[Sequence[str]] = None) -> tuple[SimulateConfig, argparse.Namespace]:
    """(the run config, the parsed flags: --force is not a setting of the run)."""
    defaults = SimulateConfig()
    parser = ArgumentParser(prog="python -m openmm_equijump.simulate", description=job.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flag(parser, "SimulateConfig")
    parser.add_argument("--pdb", help=f"structure to simulate (default: shipped chignolin, {defaults.pdb})")
    parser.add_argument("--model", help="shipped model name, training run folder or checkpoint (default: chignolin)")
    parser.add_argument("--jumps", type=int, help=f"jumps per replica (default {defaults.jumps})")
    parser.add_argument("--replicas", type=int, help=f"default {defaults.replicas}")
    parser.add_argument("--batch-size", type=int,
                        help="replicas per call of the jump module (default: all replicas in one batch; 1: each "
                             "replica an openmm.app.Simulation with the EquiJumpIntegrator, one after the other)")
    parser.add_argument("--out", help=f"output folder; rerun the same command to resume an interrupted run or "
                                      f"extend a finished one (default {defaults.out})")
    parser.add_argument("--force", action="store_true", help="replace the run already in --out")
    parser.add_argument("--latent-steps", type=int, help="sampler steps per jump (default: the sampler's)")
    parser.add_argument("--seed", type=int, help=f"replica r uses seed + r (>= 1; default {defaults.seed})")
    add_temperature_flag(parser, "K of the velocities and the MD yardstick (default: the model's training "
                                 "temperature)")
    parser.add_argument("--platform", help="OpenMM platform (default auto: CUDA if present, else CPU)")
    parser.add_argument("--device", help="device of the jump module: auto (default), cpu, cuda, ...")
    parser.add_argument("--threads", type=int, help="CPU threads of the jumps (default 1, the fastest beside other "
                                                    "busy processes; 0: one per core)")
    parser.add_argument("--compiled", action="store_const", const=True,
                        help="compile the network ahead of time for this protein and CPU (AOTInductor; minutes the "
                             "first time, then cached; faster jumps on the CPU)")
    parser.add_argument("--md-seconds", type=float,
                        help=f"wall seconds of the OpenMM MD yardstick (default {defaults.md_seconds:g})")
    parser.add_argument("--no-compare", dest="compare", action="store_const", const=False,
                        help="skip the MD yardstick and the analysis against reference MD")
    parser.add_argument("--prepare", action="store_const", const=True,
                        help="make the structure simulation-ready first (PDBFixer: hydrogens, missing atoms)")
    args = parser.parse_args(argv)
    if args.config:
        return load_yaml(SimulateConfig, args.config, given(args, FIELDS)), args
    return config_from_dict(SimulateConfig, {**config_to_dict(defaults), **given(args, FIELDS)},
                            where="command line"), args


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config, args = parse(argv)
    simulate(config, force=args.force)
    return 0
