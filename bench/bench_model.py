"""Latency of the scripted EquiJump network and of whole jumps, on one CPU core (or a GPU with --device).

    python bench/bench_model.py [--hidden 16 32] [--latent-steps 100] [--replicas 1 8] [--device cpu]

For chignolin (10 residues) and alpha3D (73 residues, a3d_amber14.pdb of the development data), untrained
weights of the paper's depth (conditioner 6, headers 4 blocks), TorchScript with graph-executor optimization
off (as the C++ plugin runs it): one header forward (best of 5 rounds of 5), the first jump (what a new
Context pays) and a steady jump (best of 2), and the ratio of a steady jump to its n x latent_steps header
calls (n = 4 headers for the paper's "drift" parameterization, 2 for "endpoint"; the ratio is 1 + the share
of the conditioner, the kNN graphs and the updates). Best-of timings because the machines are shared; compare rows of one run only. Beside each jump: the seconds OpenMM MD of the same protein
needs for 100 ps on the same threads (native OBC2, HMR, 4 fs: ``md.md_ns_per_day``), and the acceleration
R x 100 ps / jump time over that (R replicas advance 100 ps each per jump).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from e3nn.util.jit import script
from openmm.app import PDBFile

from openmm_equijump.model.transports.config import PARAMETERIZATIONS, TransportConfig
from openmm_equijump.md.reference import md_ns_per_day
from openmm_equijump.model.network import EquiJumpModel, ModelConfig
from openmm_equijump.model.nn.network import tau_embedding
from openmm_equijump.model.sampler import JumpSampler, SamplerConfig
from openmm_equijump.protein.tensorcloud import tensor_cloud_from_positions
from openmm_equijump.protein.topology import bind_topology

STRUCTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "structures"
PROTEINS = {"chignolin": "chignolin_amber14.pdb", "alpha3D": "a3d_amber14.pdb"}


def tensor_cloud(pdb_path: Path, replicas: int, device: str):
    pdb = PDBFile(str(pdb_path))
    binding = bind_topology(pdb.topology)
    positions = torch.tensor(pdb.getPositions(asNumpy=True)._value, dtype=torch.float32)
    P, V = tensor_cloud_from_positions(positions, binding)
    S = torch.as_tensor(binding.residue_types, dtype=torch.int64)
    mask = torch.as_tensor(binding.mask, dtype=torch.bool)
    expand = lambda x: x.unsqueeze(0).repeat_interleave(replicas, 0).to(device)  # noqa: E731
    return expand(P), expand(V), S.to(device), mask.to(device)


def seconds(fn, repeats: int, rounds: int = 1) -> float:
    """Mean seconds per call of ``fn`` over ``repeats`` calls, the best of ``rounds`` (robust to other load)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 32], help="multiplicities H")
    parser.add_argument("--latent-steps", type=int, default=100)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8], help="batch sizes R")
    parser.add_argument("--md-seconds", type=float, default=5.0, help="how long to measure OpenMM MD")
    parser.add_argument("--parameterization", choices=PARAMETERIZATIONS, default="drift",
                        help="'drift': the paper's four headers; 'endpoint': two")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch._C._set_graph_executor_optimize(False)
    print(f"device {args.device}, {args.threads} thread(s), latent steps {args.latent_steps}, "
          "graph-executor optimization off")
    print(f"{'protein':>10} {'N':>3} {'R':>3} {'H':>3} {'params':>8} {'header ms':>10} {'first jump s':>13} "
          f"{'jump s':>8} {'jump / (n K headers)':>21} {'MD 100 ps s':>12} {'R x 100 ps: EquiJump / MD':>26}")
    for name, file in PROTEINS.items():
        pdb = PDBFile(str(STRUCTURES / file))
        md_100ps_s = 0.1 / md_ns_per_day(pdb.topology, pdb.positions, threads=args.threads,
                                         seconds=args.md_seconds) * 86400.0
        for R, H in ((R, H) for R in args.replicas for H in args.hidden):
            P, V, S, mask = tensor_cloud(STRUCTURES / file, R, args.device)
            N = P.shape[1]
            torch.manual_seed(0)
            model = EquiJumpModel(ModelConfig(H=H), TransportConfig(parameterization=args.parameterization))
            model = model.to(args.device)
            sampler = script(JumpSampler(model, SamplerConfig(latent_steps=args.latent_steps)), in_place=False)
            n_headers = len(model.network.headers)
            header = model.network.headers[f"{model.transport.outputs[0]}_V"]
            residue_mask = torch.ones(R, N, dtype=torch.bool, device=args.device)
            with torch.no_grad():
                h = sampler.model.condition(P, V, S.expand(R, N), mask.expand(R, N, 13), residue_mask)
                tau = tau_embedding(torch.full([R], 0.5, device=args.device), model.model_config.n_tau_frequencies)
                x = torch.cat([h, tau.unsqueeze(1).expand(R, N, -1), V.flatten(-2), torch.zeros_like(V).flatten(-2),
                               torch.zeros_like(P)], -1)
                graph = sampler.model.network.neighbours(P, residue_mask)
                header(x, residue_mask, *graph)
                t_header = seconds(lambda: header(x, residue_mask, *graph), 5, rounds=5)
                t_first = seconds(lambda: sampler(P, V, S, mask, list(range(R))), 1)
                t_jump = seconds(lambda: sampler(P, V, S, mask, list(range(R, 2 * R))), 1, rounds=2)
            ratio = t_jump / (n_headers * args.latent_steps * t_header)
            print(f"{name:>10} {N:>3} {R:>3} {H:>3} {model.parameter_counts()['total']:>8} {1e3 * t_header:>10.1f} "
                  f"{t_first:>13.2f} {t_jump:>8.2f} {ratio:>21.2f} {md_100ps_s:>12.2f} "
                  f"{R * md_100ps_s / t_jump:>26.1f}", flush=True)


if __name__ == "__main__":
    main()
