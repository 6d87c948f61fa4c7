"""Jump speed by thread setting, on an idle machine and beside a busy neighbour, next to OpenMM MD.

    OMP_NUM_THREADS=1 python bench/bench_threads.py [--batch-sizes 1 16] [--latent-steps 100] [--timeout-s 240]

The shipped chignolin model's jump module (the call the plugin and the batched runner make) is timed in a fresh
process per candidate, because OpenMP reads its settings once per process:
- ``1``: one intra-op thread;
- ``all``: one per core (libtorch's default), libgomp's default wait policy (threads spin before sleeping);
- ``all, passive``: one per core with ``OMP_WAIT_POLICY=passive`` (threads sleep at once).
Each candidate runs twice: on an otherwise idle machine, and with one busy-looping process beside it (what a
shared laptop, CI runner or cluster node is like). OpenMM MD of the same System (CPU platform, all cores,
``md.md_ns_per_day``) is measured under the same two conditions, and every row prints EquiJump ns/day over the
MD ns/day of the same condition. The best of ``--repeats`` jumps after one warm-up; a candidate slower than
``--timeout-s`` in all is reported as such.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CANDIDATES = {"1": {"threads": 1, "env": {}},
              "all": {"threads": 0, "env": {}},
              "all, passive": {"threads": 0, "env": {"OMP_WAIT_POLICY": "passive"}}}
JUMP_NS = 0.1


def worker(args) -> None:
    """Time the jump module in this process and print one JSON line: {batch: best seconds per jump}."""
    import numpy as np
    import torch
    from openmm.app import PDBFile

    from openmm_equijump import load_model

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    pdb = PDBFile(args.pdb)
    module = load_model("chignolin", pdb.topology, latent_steps=args.latent_steps)
    start = np.asarray(pdb.getPositions(asNumpy=True)._value, dtype=np.float32)
    result = {}
    with torch.no_grad(), torch.jit.optimized_execution(False):
        for batch in args.batch_sizes:
            x = torch.as_tensor(np.repeat(start[None], batch, 0))
            seeds = list(range(1, batch + 1))
            module.jump_replicas(x, seeds)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                began = time.perf_counter()
                module.jump_replicas(x, seeds)
                best = min(best, time.perf_counter() - began)
            result[batch] = best
    print(json.dumps({"threads": threads, "seconds": result}), flush=True)


def run_candidate(name: str, args) -> dict | None:
    candidate = CANDIDATES[name]
    env = {**os.environ, **candidate["env"]}
    env["OMP_NUM_THREADS"] = str(candidate["threads"] or os.cpu_count())
    command = [sys.executable, __file__, "--worker", "--threads", str(candidate["threads"]), "--pdb", args.pdb,
               "--latent-steps", str(args.latent_steps), "--repeats", str(args.repeats),
               "--batch-sizes", *map(str, args.batch_sizes)]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout_s, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def md_rate(pdb_path: str, seconds: float) -> float:
    from openmm.app import PDBFile

    from openmm_equijump.md import md_ns_per_day

    pdb = PDBFile(pdb_path)
    return md_ns_per_day(pdb.topology, pdb.positions, threads=os.cpu_count(), seconds=seconds)


def main() -> None:
    from openmm_equijump.runtime.load import available_models  # noqa: F401 (fail early without the package)

    default_pdb = os.path.join(os.path.dirname(__file__), "..", "openmm_equijump", "pretrained", "chignolin",
                               "structure.pdb")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--latent-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=240.0)
    parser.add_argument("--md-seconds", type=float, default=5.0)
    parser.add_argument("--pdb", default=os.path.normpath(default_pdb))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    print(f"{os.cpu_count()} cores; shipped chignolin model, {args.latent_steps} latent steps; best of "
          f"{args.repeats} jumps; MD: CPU platform, {os.cpu_count()} threads", flush=True)
    print(f"{'condition':>10} {'threads':>13} {'batch':>5} {'s / jump':>9} {'ns/day':>10} {'MD ns/day':>10} "
          f"{'EquiJump / MD':>14}", flush=True)
    for condition in ("idle", "busy"):
        neighbour = None
        if condition == "busy":
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            md = md_rate(args.pdb, args.md_seconds)
            for name in CANDIDATES:
                result = run_candidate(name, args)
                for batch in args.batch_sizes:
                    if result is None:
                        print(f"{condition:>10} {name:>13} {batch:>5} {'>' + str(int(args.timeout_s)) + ' s all':>9}",
                              flush=True)
                        continue
                    seconds = result["seconds"][str(batch)]
                    rate = batch * JUMP_NS / seconds * 86400.0
                    print(f"{condition:>10} {name:>13} {batch:>5} {seconds:>9.3f} {rate:>10.0f} {md:>10.0f} "
                          f"{rate / md:>14.1f}", flush=True)
        finally:
            if neighbour is not None:
                neighbour.kill()


if __name__ == "__main__":
    main()
