"""``python -m openmm_equijump.md`` (``equijump-md``): reference MD on demand (``md.reference``).

    python -m openmm_equijump.md --pdb protein.pdb --ns 100 --replicas 4 --temperature-k 350 --out runs/md

Rerun the same command after an interruption and it resumes from its checkpoints; ``--config
runs/md/md_config.yaml --out runs/md`` repeats a run's settings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..config import config_from_dict, load_yaml
from ..md.reference import MDConfig, run_reference_md
from . import ArgumentParser, add_config_flag, add_temperature_flag, command, given

FIELDS = ("pdb", "ns", "replicas", "temperature_K", "frame_ps", "chunk_ns", "seed", "chains", "platform", "threads")


def parse_args(argv: Optional[Sequence[str]] = None) -> tuple[MDConfig, str]:
    parser = ArgumentParser(prog="python -m openmm_equijump.md", description=__doc__.split("\n\n")[0])
    add_config_flag(parser, "MDConfig")
    parser.add_argument("--pdb", help="structure file (PDB or PDBx/mmCIF); hydrogens are added (required unless "
                                      "--config names one)")
    parser.add_argument("--out", required=True, help="output folder; rerun the same command to resume")
    parser.add_argument("--ns", type=float, help=f"length of each replica in ns (default {MDConfig.ns:g})")
    parser.add_argument("--replicas", type=int, help=f"default {MDConfig.replicas}")
    add_temperature_flag(parser, "kelvin (default 350)")
    parser.add_argument("--frame-ps", type=float, help=f"interval between saved frames (default {MDConfig.frame_ps:g})")
    parser.add_argument("--chunk-ns", type=float, help=f"checkpoint interval (default {MDConfig.chunk_ns:g})")
    parser.add_argument("--seed", type=int, help="replica i uses seed + i (default 1)")
    parser.add_argument("--chains", nargs="*", help="chain ids to keep (default: every protein chain)")
    parser.add_argument("--platform", help=f"OpenMM platform name (default {MDConfig.platform})")
    parser.add_argument("--threads", type=int, help="CPU threads (default 0: all)")
    args = parser.parse_args(argv)
    overrides = given(args, FIELDS)
    if "pdb" in overrides:
        overrides["pdb"] = str(Path(overrides["pdb"]).resolve())
    if args.config:
        return load_yaml(MDConfig, args.config, overrides), args.out
    if "pdb" not in overrides:
        parser.error("--pdb is required (or --config with pdb)")
    return config_from_dict(MDConfig, overrides, where="command line"), args.out


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config, out = parse_args(argv)
    if not Path(config.pdb).is_file():
        raise FileNotFoundError(f"no structure file {config.pdb}")
    summary = run_reference_md(config, out)
    if summary["ns_per_day"] is None:
        print(f"nothing to run: every replica already has its frames ({summary['frames_per_replica']}); "
              "give a larger --ns to extend the run")
    else:
        print(f"{summary['simulated_ns']:.3f} ns simulated in {summary['wall_s']:.1f} s "
              f"({summary['ns_per_day']:.0f} ns/day); frames per replica: {summary['frames_per_replica']}")
    return 0
