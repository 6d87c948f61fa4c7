"""DiffMD against the package's two-sided and DDPM transports in DiffMD's regime (frames and lag 20 fs), scored by
ARMSE of 10-, 50- and 100-step rollouts from held-out frames, beside copy-the-last-frame and constant-velocity
extrapolation (``analysis.rollout_error``).

    # fresh MD: 3 x 150 ps of chignolin at 350 K, a frame every 20 fs (5 steps of 4 fs)
    OMP_NUM_THREADS=1 python -m openmm_equijump.md --pdb openmm_equijump/pretrained/chignolin/structure.pdb \\
        --out runs/md20fs --ns 0.15 --replicas 3 --frame-ps 0.02 --chunk-ns 0.01 --threads 1 --seed 18
    OMP_NUM_THREADS=1 python bench/bench_diffmd.py train --md runs/md20fs --out runs/diffmd_bench [--steps 4000]
    OMP_NUM_THREADS=1 python bench/bench_diffmd.py evaluate --md runs/md20fs --out runs/diffmd_bench \
        [--diffmd-samplers heun:0.1 heun:0.5 pc:0.1]

Training: replicas 1 and 2 (no validation split), the same small network (H 16, 2 + 2 blocks), steps, batch and
learning rate for every model; DiffMD with history 2 (velocities of two earlier frames) and 0 (none: the
acceleration still sets its noise). Two-sided: noise and end-point scales set to the jump's RMS per coordinate at
20 fs (the defaults are sized for 100 ps jumps, 30x larger); DDPM: its defaults (its prior forgets X^t, so its
noise must span the structure, not the jump). Held out: replica 0, never trained or validated on. Rollouts go
through the jump modules of ``load_model`` (covalent projection and hydrogens included), ``--starts`` of them
spread over replica 0, all starts of one model in one batch; DiffMD's state is set from the two reference frames
before each start. ARMSE over heavy atoms, in Angstrom.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import mdtraj as md
import numpy as np
import torch

from openmm_equijump.analysis.rollout_error import armse_table, constant_velocity_rollout, copy_last_rollout
from openmm_equijump.model.diffmd import DiffMDSamplerConfig, stack_cloud
from openmm_equijump.model.sampler import SamplerConfig
from openmm_equijump.runtime.export import is_stateful
from openmm_equijump.runtime.load import load_model
from openmm_equijump.units import ANGSTROM_PER_NM

NETWORK = {"H": 16, "conditioner_layers": 2, "header_layers": 2}
#: RMS per coordinate of X^(t + 20 fs) - X^t on the training replicas (train prints it): anchors, vectors
JUMP_RMS_A = (0.05, 0.09)
MODELS = {
    "diffmd": {"method": "diffmd"},
    "diffmd_history0": {"method": "diffmd", "diffmd": {"history": 0}},
    "two_sided": {"transport": {"kind": "two_sided", "noise_reading": "scale", "sigma_P": JUMP_RMS_A[0],
                                "sigma_V": JUMP_RMS_A[1], "endpoint_scale_P": JUMP_RMS_A[0],
                                "endpoint_scale_V": JUMP_RMS_A[1]}},
    "ddpm": {"transport": {"kind": "ddpm"}},
}
LAG_PS = 0.02


def train(args: argparse.Namespace) -> None:
    import yaml
    md_dir, out = Path(args.md), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, settings in MODELS.items():
        if (out / name / "checkpoint.pt").is_file():
            print(f"{name}: trained already")
            continue
        config = {"model": NETWORK, "steps": args.steps, "batch_size": args.batch_size, "validation_fraction": 0.0,
                  "checkpoint_every": 1000, "lag_ps": LAG_PS, "temperature_K": 350.0, **settings}
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "openmm_equijump.train", "--config", str(path), "--topology",
                        str(md_dir / "topology.pdb"), "--trajectories", str(md_dir / "replica_1.dcd"),
                        str(md_dir / "replica_2.dcd"), "--out", str(out / name), "--no-progress"], check=True)
        print(f"{name}: {args.steps} steps in {time.perf_counter() - started:.0f} s", flush=True)


def rollout(module, frames_nm: np.ndarray, starts: np.ndarray, n: int, heavy: np.ndarray) -> np.ndarray:
    """(starts, n, heavy atoms, 3) Angstrom: n jumps of every start frame, all in one batch."""
    positions = torch.as_tensor(frames_nm[starts], dtype=torch.float32)
    seeds = [int(s) for s in starts]
    state = None
    if is_stateful(module):
        # the two reference frames before each start are its history
        clouds = [stack_cloud(*module.cloud.to_cloud(torch.as_tensor(frames_nm[starts - k], dtype=torch.float32)))
                  for k in (1, 2)]
        state = torch.stack(clouds, dim=1).to(module.init_replicas(positions, seeds).dtype)
    out = np.zeros((len(starts), n, heavy.size, 3))
    with torch.no_grad():
        for i in range(n):
            if state is None:
                positions = module.jump_replicas(positions, [s + 1000003 * i for s in seeds])
            else:
                positions, state = module.jump_replicas(positions, state, [s + 1000003 * i for s in seeds])
            out[:, i] = positions.numpy()[:, heavy] * ANGSTROM_PER_NM
    return out


def evaluate(args: argparse.Namespace) -> None:
    md_dir, out = Path(args.md), Path(args.out)
    reference = md.load(str(md_dir / "replica_0.dcd"), top=str(md_dir / "topology.pdb"))
    heavy = np.array([a.index for a in reference.topology.atoms if a.element.symbol != "H"])
    n = max(args.horizons)
    starts = np.linspace(2, reference.n_frames - n - 1, args.starts).round().astype(int)
    frames = reference.xyz.astype(np.float64)
    A = frames[:, heavy] * ANGSTROM_PER_NM
    truth = np.stack([A[s + 1:s + n + 1] for s in starts])
    results = {"copy last frame": armse_table(copy_last_rollout(A[starts], n), truth, args.horizons),
               "constant velocity": armse_table(constant_velocity_rollout(A[starts - 1], A[starts], n), truth,
                                                args.horizons)}
    seconds = {}
    topology = reference.topology.to_openmm()
    for name in MODELS:
        run = out / name
        if not (run / "checkpoint.pt").is_file():
            print(f"{name}: no trained model in {run}; skipped")
            continue
        if name.startswith("diffmd"):
            variants = {}
            for variant in args.diffmd_samplers:
                solver, eps = variant.split(":")
                variants[f"{name} ({solver}, eps {eps})"] = load_model(
                    run, topology, diffmd=DiffMDSamplerConfig(steps=args.diffmd_steps, eps=float(eps), solver=solver))
        else:
            variants = {name: load_model(run, topology, sampler=SamplerConfig(latent_steps=args.latent_steps))}
        for label, module in variants.items():
            started = time.perf_counter()
            results[label] = armse_table(rollout(module, frames, starts, n, heavy), truth, args.horizons)
            seconds[label] = time.perf_counter() - started
            print(f"{label}: {seconds[label]:.0f} s for {len(starts)} x {n} jumps", flush=True)
    lines = ["| rollout | " + " | ".join(f"ARMSE {h} steps ({h * LAG_PS * 1000:g} fs), A" for h in args.horizons)
             + " |", "|---|" + "---|" * len(args.horizons)]
    for name, table in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{table[h][0]:.3f} +/- {table[h][1]:.3f}" for h in args.horizons)
                     + " |")
    print("\n".join(lines))
    (out / "armse.json").write_text(json.dumps({"starts": starts.tolist(), "horizons": args.horizons,
                                                "armse_A": {k: {str(h): v for h, v in t.items()}
                                                            for k, t in results.items()},
                                                "rollout_seconds": seconds, "settings": vars(args)}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=("train", "evaluate"))
    parser.add_argument("--md", required=True, help="folder of python -m openmm_equijump.md at 20 fs frames")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--starts", type=int, default=16)
    parser.add_argument("--horizons", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--latent-steps", type=int, default=20, help="two-sided and DDPM latent steps per jump")
    parser.add_argument("--diffmd-steps", type=int, default=DiffMDSamplerConfig.steps)
    parser.add_argument("--diffmd-samplers", nargs="+", default=["heun:0.1"], metavar="SOLVER:EPS",
                        help="DiffMD jumps to score, e.g. heun:0.1 heun:0.5 pc:0.1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train(args) if args.task == "train" else evaluate(args)


if __name__ == "__main__":
    main()
