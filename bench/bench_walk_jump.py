"""Walk-jump samples per second at batch 1 and 16, next to OpenMM MD frames per second, on this machine.

    OMP_NUM_THREADS=1 python bench/bench_walk_jump.py --model runs/walk_jump [--batch-sizes 1 16] [--walk-steps 1]

One torch thread (the integrator's default). A "sample" is one walk step of one chain (one network call gives
the next score and the sample); the module call advances ``--walk-steps`` steps of every chain of the batch.
MD: the same System (native OBC2, HBonds, HMR 4 amu, 4 fs, CPU platform, one thread), timed as
``md.system_ns_per_day``; its frames per second are at the reference campaign's 10 ps per frame (the
interval at which consecutive MD frames are still correlated samples; the ratio for another interval scales
with it). Best of ``--repeats`` calls after one warm-up.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from openmm.app import PDBFile

from openmm_equijump.md.reference import md_ns_per_day
from openmm_equijump.model.walk import WalkConfig
from openmm_equijump.runtime.load import PRETRAINED_DIR, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a walk-jump model (run folder or shipped name)")
    parser.add_argument("--pdb", default=str(PRETRAINED_DIR / "chignolin" / "structure.pdb"))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--walk-steps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--md-seconds", type=float, default=20.0)
    parser.add_argument("--frame-ps", type=float, default=10.0, help="MD frame interval counted as one sample")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pdb = PDBFile(args.pdb)
    module = load_model(args.model, pdb.topology, walk=WalkConfig(walk_steps=args.walk_steps))
    start = np.asarray(pdb.getPositions(asNumpy=True)._value, dtype=np.float32)
    rates = {}
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for batch in args.batch_sizes:
            x = torch.as_tensor(np.repeat(start[None], batch, 0))
            seeds = list(range(1, batch + 1))
            state = module.init_replicas(x, seeds)
            x, state = module.jump_replicas(x, state, seeds)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                began = time.perf_counter()
                x, state = module.jump_replicas(x, state, seeds)
                best = min(best, time.perf_counter() - began)
            rates[batch] = batch * args.walk_steps / best
    md_frames_per_s = md_ns_per_day(pdb.topology, pdb.positions, threads=1, seconds=args.md_seconds) \
        * 1000.0 / args.frame_ps / 86400.0
    print(f"OpenMM MD, CPU platform, 1 thread: {md_frames_per_s:.2f} frames/s at {args.frame_ps:g} ps per frame")
    for batch, rate in rates.items():
        print(f"walk-jump batch {batch:>3}, {args.walk_steps} walk step(s) per call: {rate:8.2f} samples/s "
              f"= {rate / md_frames_per_s:6.1f} x MD frames/s")


if __name__ == "__main__":
    main()
