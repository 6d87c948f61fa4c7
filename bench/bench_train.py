"""Training throughput: optimizer steps per second of the full EquiJump model (paper depths: conditioner 6,
headers 4) for chignolin (10 residues, the shared reference MD) and alpha3D (73 residues, frames wiggled
by 0.1 A around a3d_amber14.pdb of the development data (README, "Tests"): no MD of it is needed to time a step), at
H = 16 and 32, batch 1 and 8, on CUDA when present, else the CPU.

Each setting runs its steps (after warm-up steps) in rounds alternating with the others, and the medians are
compared side by side: the printed ratios are alpha3D's cost per step over chignolin's, and the pair
throughput of batch 8 over batch 1. Absolute steps/s are shown for orientation only (shared machines).

    OMP_NUM_THREADS=1 python bench/bench_train.py [--steps 3] [--rounds 3] [--hidden 16 32] [--batch 1 8]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mdtraj
import numpy as np
import torch

from openmm_equijump.training.data.pairs import TransitionPairs, split_by_trajectory
from openmm_equijump.training.data.trajectories import load_protein
from openmm_equijump.model.transports import TransportConfig
from openmm_equijump.model.network import EquiJumpModel, ModelConfig
from openmm_equijump.training.loop import optimizer_step

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def proteins(scratch: Path) -> dict[str, TransitionPairs]:
    md = SHARED / "md"
    chignolin = load_protein(md / "chignolin_amber14.pdb", [md / "chignolin_obc2_350K_seed2.dcd"])
    pdb = SHARED / "structures" / "a3d_amber14.pdb"
    structure = mdtraj.load(str(pdb))
    noise = np.random.default_rng(0).normal(scale=0.01, size=(40,) + structure.xyz.shape[1:])
    mdtraj.Trajectory(structure.xyz + noise.astype(np.float32), structure.topology).save_dcd(str(scratch / "a3d.dcd"))
    alpha3d = load_protein(pdb, [scratch / "a3d.dcd"], frame_ps=10.0)
    result = {}
    for name, protein in (("chignolin", chignolin), ("alpha3D", alpha3d)):
        segments, _ = split_by_trajectory([protein], 0.0, 100.0, seed=0)
        result[name] = TransitionPairs([protein], segments, 100.0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    with tempfile.TemporaryDirectory() as scratch:
        pairs = proteins(Path(scratch))
    settings = [(name, H, B) for name in pairs for H in args.hidden for B in args.batch]
    runs = {}
    for name, H, B in settings:
        torch.manual_seed(0)
        model = EquiJumpModel(ModelConfig(H=H), TransportConfig()).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        generator = torch.Generator(device).manual_seed(0)
        draw = torch.Generator().manual_seed(0)
        batches = [pairs[name].batch(torch.randint(len(pairs[name]), (B,), generator=draw)).to(device)
                   for _ in range(args.steps)]
        runs[name, H, B] = (model, optimizer, generator, batches)
        for batch in batches[:args.warmup]:
            optimizer_step(model, optimizer, batch, generator)

    seconds = {key: [] for key in settings}
    for _ in range(args.rounds):
        for key in settings:
            model, optimizer, generator, batches = runs[key]
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for batch in batches:
                optimizer_step(model, optimizer, batch, generator)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[key].append((time.perf_counter() - start) / len(batches))
    per_step = {key: statistics.median(values) for key, values in seconds.items()}

    print(f"device {device}, torch threads {torch.get_num_threads()}, full model (conditioner 6, headers 4), "
          f"median of {args.rounds} rounds x {args.steps} steps")
    print(f"{'protein':10s} {'H':>3s} {'batch':>5s} {'steps/s':>8s} {'pairs/s':>8s}")
    for name, H, B in settings:
        t = per_step[name, H, B]
        print(f"{name:10s} {H:3d} {B:5d} {1 / t:8.2f} {B / t:8.2f}")
    print("ratios, side by side in this run:")
    for H in args.hidden:
        for B in args.batch:
            cost = per_step["alpha3D", H, B] / per_step["chignolin", H, B]
            print(f"  H={H} batch {B}: alpha3D (73 res) step costs {cost:.2f} x chignolin (10 res)")
        if len(args.batch) > 1:
            small, large = min(args.batch), max(args.batch)
            for name in pairs:
                gain = (large / per_step[name, H, large]) / (small / per_step[name, H, small])
                print(f"  H={H} {name}: batch {large} trains {gain:.2f} x the pairs/s of batch {small}")


if __name__ == "__main__":
    main()
