"""``python -m openmm_equijump.campaign`` (``equijump-campaign``): advance the reference-MD campaign of a campaign
file (``md.campaign``), or print what its manifest holds.

    python -m openmm_equijump.campaign data/md/campaign.yaml --threads 1 --stop-after-minutes 60
    python -m openmm_equijump.campaign data/md/campaign.yaml --platform CUDA --workers 2 --cpu-workers 13
    python -m openmm_equijump.campaign data/md/campaign.yaml --status
    python -m openmm_equijump.campaign data/md/campaign.yaml --export chignolin runs/ref [--replicas 2 5] [--keep-burn-in]

``--export`` writes a protein's replicas as the files that ``train``, ``analyze`` and ``evaluate`` take: one XTC
per stretch without missing frames (``replica_<ii>.xtc``, or ``replica_<ii>_<k>.xtc`` for a replica with gaps)
after the burn-in, and ``heavy_atoms.pdb``; exactly the frames the manifest counts, so a running campaign can be
exported.
"""
from __future__ import annotations

from typing import Optional, Sequence

import openmm

from ..md.campaign import Campaign, CampaignError, CampaignRunner, Manifest, export_trajectories, platform_properties
from . import ArgumentParser, command


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog="python -m openmm_equijump.campaign", description=__doc__.split("\n\n")[0])
    parser.add_argument("campaign", help="campaign file (YAML); its outputs and manifest.yaml lie beside it")
    parser.add_argument("--platform", default="CPU", help="OpenMM platform: CPU, CUDA, OpenCL, Reference")
    parser.add_argument("--threads", type=int, default=1, help="CPU platform threads per worker (0 = all cores)")
    parser.add_argument("--workers", type=int, default=1, help="chunks run at once on --platform, one process each")
    parser.add_argument("--cpu-workers", type=int, default=0,
                        help="more processes on the CPU platform, one thread each (beside a GPU platform)")
    parser.add_argument("--stop-after-minutes", type=float, default=None,
                        help="stop then (a running chunk is abandoned; rerun to continue)")
    parser.add_argument("--max-chunks", type=int, default=None, help="stop after committing this many chunks")
    parser.add_argument("--status", action="store_true", help="print what the manifest holds and exit")
    parser.add_argument("--export", nargs=2, metavar=("PROTEIN", "DIR"),
                        help="write the protein's replicas as XTC files (one per stretch without gaps) into DIR")
    parser.add_argument("--replicas", type=int, nargs="+", help="with --export: these replicas only (default: all)")
    parser.add_argument("--keep-burn-in", action="store_true", help="with --export: keep the campaign's burn-in")
    args = parser.parse_args(argv)
    if (args.replicas or args.keep_burn_in) and not args.export:
        parser.error("--replicas and --keep-burn-in go with --export")
    if args.export and args.status:
        parser.error("--export and --status are two commands: give one")
    return args


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    campaign = Campaign.load(args.campaign)
    if args.status:  # read only: a running campaign's files are left as they are
        print_status(campaign, Manifest(campaign))
        return 0
    if args.export:
        protein, folder = args.export
        for path in export_trajectories(campaign, protein, folder, args.replicas, not args.keep_burn_in):
            print(f"wrote {path}")
        return 0
    try:
        runner = CampaignRunner(campaign, args.platform, platform_properties(args.platform, args.threads))
        summary = runner.run(args.workers, args.stop_after_minutes, args.max_chunks, cpu_workers=args.cpu_workers)
    except openmm.OpenMMException as error:  # e.g. a platform this machine does not have
        raise CampaignError(str(error)) from error
    speed = f"{summary['ns_per_day']:.0f} ns/day" if summary["ns_per_day"] else "nothing run"
    cpu = f" + {args.cpu_workers} on CPU" if args.cpu_workers else ""
    print(f"{summary['simulated_ns']:.2f} ns in {summary['chunks']} chunks, {summary['wall_s']:.0f} s "
          f"({speed}; {args.workers} worker(s) on {args.platform}{cpu})")
    print_status(campaign, runner.manifest)
    return 0


def print_status(campaign: Campaign, manifest: Manifest) -> None:
    """ns done per protein and replica, and the frames missing from any replica's file."""
    for plan in campaign.proteins:
        records = sorted((r for r in manifest.records.values() if r.protein == plan.name), key=lambda r: r.replica)
        print(f"{plan.name}: {sum(r.ns_done for r in records):g} of {plan.replicas * plan.ns_per_replica:g} ns; "
              "per replica " + " ".join(f"{r.ns_done:g}" for r in records))
        for r in records:
            if r.gaps:
                print(f"  replica {r.replica}: frames missing from its file (time ps before, frames): {r.gaps}")
