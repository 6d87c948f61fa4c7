"""Several sets of samples against one reference MD ensemble, as ensembles (no MSM reweighting, no lag): the
table of the walk-jump model card (walk-jump chains, EquiJump rollouts and OpenMM MD side by side).

    python examples/compare_ensembles.py --native structure.pdb \
        --reference-topology ref/heavy_atoms.pdb --reference ref/*.xtc --campaign data/md/campaign.yaml \
        --set walk-jump runs/ens/heavy_atoms.pdb "runs/ens/samples_*.dcd" \
        --set "EquiJump v3" structure.pdb "runs/rollouts/replica_*.dcd" \
        --set "OpenMM MD" runs/ens/heavy_atoms.pdb runs/ens/md.dcd --out runs/ensemble_table.json

Every set is judged against the same reference (the files and the campaign's replicas after burn-in, read
once), with TICA fitted on it, beside the noise floor of two independent halves of the reference. Prints a
Markdown table and writes every number to --out.
"""
from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import mdtraj as md

from openmm_equijump.analysis.ensemble import compare_ensembles
from openmm_equijump.analysis.frames import load_ensemble
from openmm_equijump.jobs.ensemble import reference_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--native", required=True, help="native structure (C-alphas used)")
    parser.add_argument("--reference-topology")
    parser.add_argument("--reference", nargs="*", default=[])
    parser.add_argument("--campaign", help="campaign file whose replicas (after burn-in) join the reference")
    parser.add_argument("--protein", default="chignolin")
    parser.add_argument("--set", nargs=3, action="append", required=True, metavar=("NAME", "TOPOLOGY", "GLOB"),
                        help="a set of samples: its name, its topology file and a glob of its trajectories")
    parser.add_argument("--out", required=True, help="JSON of every number")
    args = parser.parse_args()

    native = md.load(args.native)
    reference = reference_ensemble(native, args.reference_topology, args.reference, args.campaign, args.protein)
    results = {}
    for name, topology, pattern in args.set:
        files = sorted(glob.glob(pattern))
        samples = load_ensemble(files, topology, native.topology, 1.0, name)  # times are not read
        comparison = compare_ensembles(reference, samples.trajectories, native)
        results[name] = {"files": files, **comparison.to_dict()}
    first = next(iter(results.values()))
    names = list(first["divergences"])
    print(f"reference: {first['reference_frames']} frames; noise floor: {first['noise_floor_split']}")
    print("| JS divergence | " + " | ".join(f"{n} ({r['generated_frames']} frames)" for n, r in results.items())
          + " | MD noise floor |")
    print("|---" * (len(results) + 2) + "|")
    for observable in names:
        cells = [f"{r['divergences'][observable]:.3f}" for r in results.values()]
        print(f"| {observable} | " + " | ".join(cells) + f" | {first['noise_floor'][observable]:.3f} |")
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
