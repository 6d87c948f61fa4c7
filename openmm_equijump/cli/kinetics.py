"""``python -m openmm_equijump.kinetics`` (``equijump-kinetics``): the kinetics report (``analysis.kinetics``) of a
campaign's reference MD, and of generated trajectories beside it.

    python -m openmm_equijump.kinetics --campaign data/md/campaign.yaml --protein chignolin \\
        [--generated runs/eval/replica_*.dcd --generated-topology structure.pdb --generated-frame-ps 100] [--out k.yaml]
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import mdtraj
import yaml

from ..analysis.frames import load_ensemble
from ..analysis.kinetics import KineticsSettings, kinetics, kinetics_inputs, report_rows, to_plain
from ..md.campaign import Campaign, CampaignError, campaign_trajectories
from . import ArgumentParser, command


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog="python -m openmm_equijump.kinetics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", required=True,
                        help="campaign file; its replicas, after the campaign's burn-in, are the reference")
    parser.add_argument("--protein", default="chignolin")
    parser.add_argument("--generated", nargs="*", default=[], help="trajectories to put beside the reference")
    parser.add_argument("--generated-topology", help="topology of --generated (PDB)")
    parser.add_argument("--generated-frame-ps", type=float, help="frame interval of --generated (else from the files)")
    parser.add_argument("--bootstrap", type=int, default=KineticsSettings.n_bootstrap, help="bootstrap resamples")
    parser.add_argument("--out", help="write the report as YAML here")
    args = parser.parse_args(argv)
    if args.generated and not args.generated_topology:
        parser.error("--generated needs --generated-topology")
    return args


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    campaign = Campaign.load(args.campaign)
    reference = campaign_trajectories(campaign, args.protein)
    if not reference:
        raise CampaignError(f"the campaign has no {args.protein} frames past its {campaign.burn_in_ns:g} ns burn-in yet")
    native = mdtraj.load(str(campaign.folder / args.protein / "heavy_atoms.pdb"))
    ensembles = {"reference MD": reference}
    frame_ns = {"reference MD": campaign.frame_ps / 1000.0}
    if args.generated:
        generated = load_ensemble(args.generated, args.generated_topology, native.topology,
                                  args.generated_frame_ps, "generated")
        ensembles["generated"], frame_ns["generated"] = generated.trajectories, generated.frame_ps / 1000.0
    settings = KineticsSettings(n_bootstrap=args.bootstrap)
    inputs = kinetics_inputs(ensembles, frame_ns, native, "reference MD")
    reports = {name: kinetics(data, settings) for name, data in inputs.items()}
    print(f"{args.protein}: reference = {len(reference)} campaign replicas after a {campaign.burn_in_ns:g} ns burn-in; "
          f"folded: C-alpha RMSD < {settings.folded_A} A; cores < {settings.folded_core_A} A and > "
          f"{settings.unfolded_core_A} A; 95 % bootstrap intervals over trajectories ({settings.n_bootstrap} resamples)")
    print(report_rows(reports))
    if args.out:
        Path(args.out).write_text(yaml.safe_dump({k: to_plain(v) for k, v in reports.items()}, sort_keys=False))
    return 0
