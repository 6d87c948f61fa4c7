"""``python -m openmm_equijump.evaluate`` (``equijump-evaluate``): a model's rollout checked and compared with
reference MD (``jobs.evaluate``).

    python -m openmm_equijump.evaluate --model chignolin --replicas 20 --jumps 100 --out runs/eval
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..config import config_from_dict, config_to_dict, load_yaml
from ..jobs.evaluate import EvaluateConfig, evaluate
from ..model.sampler import SamplerConfig
from . import ArgumentParser, add_config_flag, command, given

FIELDS = ("out", "model", "pdb", "replicas", "jumps", "seed", "reference_topology", "reference", "threads",
          "burn_in_ps")
SAMPLER_FIELDS = ("latent_steps", "eps", "mode", "projection_iterations")


def parse_args(argv: Optional[Sequence[str]] = None) -> EvaluateConfig:
    parser = ArgumentParser(prog="python -m openmm_equijump.evaluate", description=__doc__.split("\n\n")[0])
    add_config_flag(parser, "EvaluateConfig")
    parser.add_argument("--out", help="output folder (required unless --config names one)")
    parser.add_argument("--model", help=f"shipped name, run folder or checkpoint (default {EvaluateConfig.model})")
    parser.add_argument("--pdb", help="start structure (its topology binds the model; default: shipped chignolin)")
    parser.add_argument("--replicas", type=int, help=f"default {EvaluateConfig.replicas}")
    parser.add_argument("--jumps", type=int, help=f"default {EvaluateConfig.jumps}")
    parser.add_argument("--seed", type=int, help=f"replica r uses seed + r (default {EvaluateConfig.seed})")
    parser.add_argument("--threads", type=int, help="CPU threads of the jumps (default 1, the fastest beside other busy "
                                                    "processes; 0: one per core)")
    parser.add_argument("--latent-steps", type=int, help=f"default {SamplerConfig.latent_steps} (a blocks model: "
                                                         "ancestral steps per block)")
    parser.add_argument("--eps", type=float, help=f"default {SamplerConfig.eps:g}")
    parser.add_argument("--mode", choices=("sde", "ode"), help=f"default {SamplerConfig.mode}")
    parser.add_argument("--projection-iterations", type=int,
                        help="sweeps of the covalent-geometry projection after each jump (0: the model's raw jumps; "
                             f"default {SamplerConfig.projection_iterations})")
    parser.add_argument("--reference-topology", help="topology of --reference (default: --pdb)")
    parser.add_argument("--reference", nargs="+", help="reference MD (default: the MD shipped beside the model)")
    parser.add_argument("--burn-in-ps", type=float, help="leave the first this many ps of every replica out of the "
                        "comparison with the reference, as the reference's burn-in is (default 0)")
    args = parser.parse_args(argv)
    overrides = given(args, FIELDS)
    sampler = given(args, SAMPLER_FIELDS)
    if args.config:
        config = load_yaml(EvaluateConfig, args.config, overrides)
        if sampler:
            config.sampler = config_from_dict(SamplerConfig, {**config_to_dict(config.sampler), **sampler},
                                              where="command line")
        return config
    if "out" not in overrides:
        parser.error("--out is required (or --config with out)")
    return config_from_dict(EvaluateConfig, {**overrides, "sampler": sampler}, where="command line")


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    config = parse_args(argv)
    result = evaluate(config)
    print(result["stability_table"])
    print(result["summary_table"])
    print(f"{config.replicas} replicas x {config.jumps} jumps in one batch: {result['wall_s']:.0f} s, "
          f"{result['equijump_ns_per_day_all_replicas']:.0f} ns/day summed over replicas "
          f"({config.sampler.latent_steps} latent steps, {config.sampler.mode}); "
          f"replicas that blew up: {result['replicas_blown_up']} of {config.replicas}")
    return 0
