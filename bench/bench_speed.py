"""EquiJump ns/day over OpenMM MD ns/day of the same System, side by side in one run: batch sizes, TorchScript
and compiled jump modules, latent steps, thread settings, on an idle machine and beside a busy neighbour.

    OMP_NUM_THREADS=1 python bench/bench_speed.py [--batch-sizes 1 8 32] [--formats scripted compiled]
        [--latent-steps 100 20] [--threads 1] [--repeats 2] [--md-seconds 5] [--cache-dir DIR]

The shipped chignolin model's jump module (``load_model``: the module the plugin and ``simulate --replicas`` run,
projection and hydrogens included) is timed with ``jump_replicas`` on B copies of the structure, the best of
``--repeats`` jumps after one warm-up, graph-executor optimization off as the plugin runs it. Each (format,
thread setting) runs in a fresh process, because OpenMP reads its settings once per process. Thread settings:
- ``1``: one intra-op thread (the package's default);
- ``all``: one per core (libtorch's default), libgomp's default wait policy (threads spin before sleeping);
- ``passive``: one per core with ``OMP_WAIT_POLICY=passive`` (threads sleep at once).
Formats: ``scripted`` (TorchScript network) and ``compiled`` (AOTInductor network, ``runtime.compiled``; its
packages are compiled once before the timings, and the time that took is printed).
Every setting runs twice: on an otherwise idle machine, and with one busy-looping process beside it (a shared
laptop, CI runner or cluster node). OpenMM MD of the same System (CPU platform, one thread per core,
``md.md_ns_per_day``) is measured under the same two conditions, and each row prints EquiJump ns/day (summed
over the B replicas, 100 ps per jump) over the MD ns/day of its condition. Settings slower than ``--timeout-s``
for all their jumps are reported as such.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

THREAD_SETTINGS = {"1": {"threads": 1, "env": {}},
                   "all": {"threads": 0, "env": {}},
                   "passive": {"threads": 0, "env": {"OMP_WAIT_POLICY": "passive"}}}
JUMP_NS = 0.1
DEFAULT_PDB = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "openmm_equijump", "pretrained",
                                            "chignolin", "structure.pdb"))


def jump_module(args, latent_steps: int):
    from openmm.app import PDBFile

    from openmm_equijump import load_model

    return load_model("chignolin", PDBFile(args.pdb).topology, latent_steps=latent_steps,
                      compiled=args.format == "compiled", cache_dir=args.cache_dir)


def worker(args) -> None:
    """Time the jump modules in this process; print one JSON line {latent steps: {batch: best s per jump}}."""
    import numpy as np
    import torch
    from openmm.app import PDBFile

    torch.set_num_threads(THREAD_SETTINGS[args.threads[0]]["threads"] or os.cpu_count())
    start = np.asarray(PDBFile(args.pdb).getPositions(asNumpy=True)._value, dtype=np.float32)
    result = {}
    for latent_steps in args.latent_steps:
        module = jump_module(args, latent_steps)
        result[latent_steps] = {}
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
                result[latent_steps][batch] = best
    print(json.dumps(result), flush=True)


def run_setting(fmt: str, setting: str, args) -> dict | None:
    """The worker's timings for one format and thread setting, or None when it ran past --timeout-s."""
    env = {**os.environ, **THREAD_SETTINGS[setting]["env"]}
    threads = THREAD_SETTINGS[setting]["threads"]
    env["OMP_NUM_THREADS"] = str(threads or os.cpu_count())
    command = [sys.executable, __file__, "--worker", "--format", fmt, "--threads", setting, "--pdb", args.pdb,
               "--repeats", str(args.repeats), "--latent-steps", *map(str, args.latent_steps),
               "--batch-sizes", *map(str, args.batch_sizes)]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout_s, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"the {fmt} worker with threads {setting!r} failed:\n{error.stderr}") from error
    return json.loads(out.stdout.strip().splitlines()[-1])


def md_rate(pdb_path: str, seconds: float) -> float:
    from openmm.app import PDBFile

    from openmm_equijump.md import md_ns_per_day

    pdb = PDBFile(pdb_path)
    return md_ns_per_day(pdb.topology, pdb.positions, threads=os.cpu_count(), seconds=seconds)


def compile_packages(args) -> None:
    """Build (or find in the cache) the compiled network's packages before anything is timed."""
    began = time.perf_counter()
    compile_args = argparse.Namespace(**{**vars(args), "format": "compiled"})
    jump_module(compile_args, args.latent_steps[0])
    print(f"compiled network: packages ready in {time.perf_counter() - began:.0f} s (compiled now, or loaded from "
          f"the cache)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--formats", nargs="+", choices=["scripted", "compiled"], default=["scripted", "compiled"])
    parser.add_argument("--latent-steps", type=int, nargs="+", default=[100, 20])
    parser.add_argument("--threads", nargs="+", choices=list(THREAD_SETTINGS), default=["1"],
                        help="thread settings (module docstring)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--md-seconds", type=float, default=5.0)
    parser.add_argument("--pdb", default=DEFAULT_PDB)
    parser.add_argument("--cache-dir", help="compiled packages (default: the package's cache)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    if "compiled" in args.formats:
        compile_packages(args)
    print(f"{os.cpu_count()} cores; shipped chignolin model; best of {args.repeats} jumps after a warm-up; MD: CPU "
          f"platform, {os.cpu_count()} threads", flush=True)
    print(f"{'condition':>9} {'format':>8} {'threads':>7} {'latent':>6} {'batch':>5} {'s / jump':>9} "
          f"{'ns/day':>10} {'MD ns/day':>9} {'EquiJump / MD':>13}", flush=True)
    for condition in ("idle", "busy"):
        neighbour = None
        if condition == "busy":
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            md = md_rate(args.pdb, args.md_seconds)
            for fmt in args.formats:
                for setting in args.threads:
                    result = run_setting(fmt, setting, args)
                    for latent_steps in args.latent_steps:
                        for batch in args.batch_sizes:
                            head = f"{condition:>9} {fmt:>8} {setting:>7} {latent_steps:>6} {batch:>5}"
                            if result is None:
                                print(f"{head} {'> ' + str(int(args.timeout_s)) + ' s, all':>9}", flush=True)
                                continue
                            seconds = result[str(latent_steps)][str(batch)]
                            rate = batch * JUMP_NS / seconds * 86400.0
                            print(f"{head} {seconds:>9.3f} {rate:>10.0f} {md:>9.0f} {rate / md:>13.1f}", flush=True)
        finally:
            if neighbour is not None:
                neighbour.kill()


if __name__ == "__main__":
    main()
