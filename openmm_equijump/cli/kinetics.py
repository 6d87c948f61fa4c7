"""``python -m openmm_equijump.kinetics`` (``equijump-kinetics``): the kinetics report (``analysis.kinetics``) of a
campaign's reference MD, and of generated trajectories beside it.

    python -m openmm_equijump.kinetics --campaign data/md/campaign.yaml --protein chignolin \\
        [--replicas 2 5 7] [--generated runs/eval/replica_*.dcd --generated-topology structure.pdb] [--out k.yaml]
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import mdtraj
import yaml

from ..analysis.frames import load_ensemble
from ..analysis.kinetics import KineticsSettings, kinetics, kinetics_inputs, report_rows, to_plain
from ..analysis.settings import without_burn_in
from ..md.campaign import Campaign, CampaignError, campaign_trajectories
from . import ArgumentParser, command


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog="python -m openmm_equijump.kinetics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", required=True,
                        help="campaign file; its replicas, after the campaign's burn-in, are the reference")
    parser.add_argument("--protein", default="chignolin")
    parser.add_argument("--replicas", type=int, nargs="+",
                        help="the campaign replicas that are the reference (default: all), e.g. those a model did not see")
    parser.add_argument("--generated", nargs="*", default=[], help="trajectories to put beside the reference")
    parser.add_argument("--generated-topology", help="topology of --generated (PDB)")
    parser.add_argument("--generated-frame-ps", type=float, help="frame interval of --generated (else from the files)")
    parser.add_argument("--generated-burn-in-ns", type=float, default=0.0,
                        help="leave out the start of every generated trajectory, as the reference's burn-in is")
    parser.add_argument("--bootstrap", type=int, default=KineticsSettings.n_bootstrap, help="bootstrap resamples")
    parser.add_argument("--out", help="write the report as YAML here")
    args = parser.parse_args(argv)
    if args.generated and not args.generated_topology:
        parser.error("--generated needs --generated-topology")
    if args.generated_burn_in_ns and not args.generated:
        parser.error("--generated-burn-in-ns goes with --generated")
    return args


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    campaign = Campaign.load(args.campaign)
    reference = campaign_trajectories(campaign, args.protein, replicas=args.replicas)
    if not reference:
        which = f"replicas {args.replicas}" if args.replicas else "replicas"
        raise CampaignError(f"the campaign's {args.protein} {which} have no frames past its {campaign.burn_in_ns:g} ns "
                            "burn-in yet")
    native = mdtraj.load(str(campaign.folder / args.protein / "heavy_atoms.pdb"))
    ensembles = {"reference MD": reference}
    frame_ns = {"reference MD": campaign.frame_ps / 1000.0}
    if args.generated:
        generated = load_ensemble(args.generated, args.generated_topology, native.topology,
                                  args.generated_frame_ps, "generated")
        generated = without_burn_in(generated, args.generated_burn_in_ns * 1000.0)
        ensembles["generated"], frame_ns["generated"] = generated.trajectories, generated.frame_ps / 1000.0
    settings = KineticsSettings(n_bootstrap=args.bootstrap)
    inputs = kinetics_inputs(ensembles, frame_ns, native, "reference MD")
    reports = {name: kinetics(data, settings) for name, data in inputs.items()}
    replicas = sorted({t.replica for t in reference})
    print(f"{args.protein}: reference = campaign replicas {' '.join(map(str, replicas))} ({len(reference)} stretches "
          f"without missing frames) after a {campaign.burn_in_ns:g} ns burn-in; "
          f"folded: C-alpha RMSD < {settings.folded_A} A; cores < {settings.folded_core_A} A and > "
          f"{settings.unfolded_core_A} A; 95 % bootstrap intervals over runs ({settings.n_bootstrap} resamples)"
          + (f"; generated: first {args.generated_burn_in_ns:g} ns left out" if args.generated else ""))
    print(report_rows(reports))
    for name, report in reports.items():
        print(f"folded fraction per run, {name}: " + ", ".join(f"{run}: {fraction:.3f}" for run, fraction
                                                              in report["folded_fraction_per_run"].items()))
    if args.out:
        Path(args.out).write_text(yaml.safe_dump({k: to_plain(v) for k, v in reports.items()}, sort_keys=False))
    return 0
