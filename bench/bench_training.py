"""Training throughput (pairs per second) at 1, 2, ... processes, side by side: the shipped chignolin model's
network and settings (``pretrained/chignolin/train_config.yaml``: H 16, conditioner 4, headers 3, cluster
sampling) on the chignolin MD of the reference campaign (``data/md/chignolin``, 10 replicas), each count of
processes launched by ``torchrun --standalone`` (gloo on the CPU, NCCL with ``--device cuda``), timed over the
steps after warm-up with the run's own code (global batch assembly, loss shares, DDP all-reduce, Adam).

Also each process's anonymous memory (RssAnon: what the process holds privately) before and after reading
the data, with the memory-mapped frame cache and, with ``--in-memory``, with the frames in memory.

    OMP_NUM_THREADS=1 python bench/bench_training.py [--processes 1 2] [--steps 20] [--warmup 3] [--batch 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_anon_MB() -> float:
    """This process's anonymous resident memory (MB), from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    """One process of a torchrun launch: read the data, then time ``args.steps`` training steps."""
    import torch

    from openmm_equijump.runtime.load import PRETRAINED_DIR
    from openmm_equijump.training.config import DatasetConfig, load_train_config
    from openmm_equijump.training.distributed import BatchLoss, training_world
    from openmm_equijump.training.loop import new_state, prepare_data, train_step

    config = load_train_config(PRETRAINED_DIR / "chignolin" / "train_config.yaml")
    data_dir = Path(args.data)
    config.datasets = [DatasetConfig(str(data_dir / "heavy_atoms.pdb"),
                                     [str(p) for p in sorted(data_dir.glob("replica_*/trajectory.xtc"))],
                                     frame_ps=10.0)]  # the campaign writes every 10 ps
    config.batch_size = args.batch
    with training_world(args.device) as (world, device):
        world.check_batch_size(config.batch_size)
        before = rss_anon_MB()
        data = prepare_data(config, None if args.in_memory else Path(args.out) / "frames_cache", world)
        after = rss_anon_MB()
        state = new_state(config, device)
        batch_loss = BatchLoss(state.model, world)
        state.model.train()
        for _ in range(args.warmup):
            train_step(state, config, data, device, Path(args.out), batch_loss)
        world.barrier()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(state, config, data, device, Path(args.out), batch_loss)
        if device.type == "cuda":
            torch.cuda.synchronize()
        world.barrier()
        seconds = time.perf_counter() - start
        # a file per process: the processes' stdout lines interleave
        (Path(args.out) / f"result_{world.rank}.json").write_text(json.dumps(
            {"rank": world.rank, "seconds": seconds, "rss_before_MB": before, "rss_after_MB": after}))


def launch(args: argparse.Namespace, processes: int, out: Path) -> list[dict]:
    """The workers' results of one torchrun launch with ``processes`` processes."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               __file__, "--worker", "--out", str(out), "--data", args.data, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--batch", str(args.batch), "--device", args.device]
    if args.in_memory:
        command.append("--in-memory")
    out.mkdir(parents=True)
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"{processes} process(es) failed:\n{run.stderr[-3000:]}")
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in range(processes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="global batch (pairs per step)")
    parser.add_argument("--data", default=str(ROOT / "data" / "md" / "chignolin"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--in-memory", action="store_true", help="frames in memory instead of the frame cache")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    print(f"global batch {args.batch}, {args.steps} timed steps after {args.warmup}, device {args.device}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start, frames {'in memory' if args.in_memory else 'cached'}")
    print(f"{'processes':>9s} {'steps/s':>8s} {'pairs/s':>8s}  RssAnon per process before -> after reading data (MB)")
    with tempfile.TemporaryDirectory() as scratch:
        for processes in args.processes:
            results = launch(args, processes, Path(scratch) / str(processes))
            seconds = max(r["seconds"] for r in results)
            memory = ", ".join(f"{r['rss_before_MB']:.1f} -> {r['rss_after_MB']:.1f}" for r in results)
            print(f"{processes:9d} {args.steps / seconds:8.2f} {args.steps * args.batch / seconds:8.2f}  {memory}")


if __name__ == "__main__":
    main()
