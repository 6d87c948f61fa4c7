"""Seconds per jump of a shipped model, TorchScript jump module against its AOTInductor-compiled network
(``runtime.compiled``), side by side in one process, and what compiling costs.

    python bench/bench_compiled_jump.py [--model chignolin] [--replicas 1 16] [--rounds 3] [--cache-dir DIR]

Both modules come from ``load_model`` (100 latent steps, SDE, the covalent projection); per replica count R,
rounds alternate one scripted and one compiled jump of R replicas and the best round of each is printed
(shared machines), with the share of the jump spent in the transition (network + sampler loop; the rest is the
covalent projection and the hydrogens) and the ratio scripted / compiled. Compile time: the first compiled
jump with an empty cache (a temporary folder unless --cache-dir), i.e. export + AOTInductor of the conditioner
and the headers, paid once per model, residue count and machine (the batch dimension is dynamic); then the
same with the packages in the cache. Thread count: torch.set_num_threads(--threads).
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from openmm.app import PDBFile

from openmm_equijump.runtime.load import load_model, model_path


def best_seconds(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="chignolin")
    parser.add_argument("--pdb", help="structure (default: the model's shipped structure.pdb)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", help="package cache (default: a new temporary folder: compile time)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pdb = PDBFile(args.pdb or str(model_path(args.model).parent / "structure.pdb"))
    x = torch.as_tensor(np.asarray(pdb.getPositions(asNumpy=True)._value, dtype=np.float32))
    scratch = tempfile.TemporaryDirectory() if args.cache_dir is None else None
    cache_dir = args.cache_dir or scratch.name
    scripted = load_model(args.model, pdb.topology)
    compiled = load_model(args.model, pdb.topology, compiled=True, cache_dir=cache_dir)
    with torch.no_grad(), torch.jit.optimized_execution(False):
        first = best_seconds(lambda: compiled.jump_replicas(x[None], [1]), 1)
        cached = load_model(args.model, pdb.topology, compiled=True, cache_dir=cache_dir)
        from_cache = best_seconds(lambda: cached.jump_replicas(x[None], [1]), 1)
        print(f"{args.model} ({x.shape[0]} atoms), {args.threads} thread(s), torch {torch.__version__}")
        print(f"first compiled jump, {'empty' if scratch else 'given'} cache {cache_dir}: {first:.1f} s; "
              f"first jump with the packages cached: {from_cache:.2f} s")
        print(f"{'R':>4} {'scripted s/jump':>16} {'(transition)':>13} {'compiled s/jump':>16} {'(transition)':>13} "
              f"{'ratio':>6}")
        for R in args.replicas:
            positions, seeds = x[None].repeat(R, 1, 1), list(range(1, R + 1))
            P, V = scripted.cloud.to_cloud(positions)
            S, mask = scripted.cloud.residue_types, scripted.cloud.mask
            times = {}
            for name, module in (("scripted", scripted), ("compiled", compiled)):
                module.jump_replicas(positions, seeds)  # warm-up (TorchScript profiles its first calls)
            for name, module in (("scripted", scripted), ("compiled", compiled)) * args.rounds:
                jump = best_seconds(lambda: module.jump_replicas(positions, seeds), 1)
                transition = best_seconds(lambda: module.transition(P, V, S, mask, seeds), 1)
                best = times.get(name, (float("inf"), float("inf")))
                times[name] = (min(best[0], jump), min(best[1], transition))
            (js, ts), (jc, tc) = times["scripted"], times["compiled"]
            print(f"{R:>4} {js:>16.3f} {ts / js:>12.0%} {jc:>16.3f} {tc / jc:>12.0%} {js / jc:>6.2f}")
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
