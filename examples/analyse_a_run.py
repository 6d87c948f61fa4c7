"""Look at a run of ``python -m openmm_equijump.simulate``: did it stay chemical, and how do its dynamics
compare with reference MD?

    python -m openmm_equijump.simulate --jumps 200 --replicas 4 --out equijump_chignolin
    python examples/analyse_a_run.py equijump_chignolin
    python examples/analyse_a_run.py mine --reference-topology md/topology.pdb --reference md/replica_*.dcd

Per replica it checks what a jump model must never do (the stability criteria of the shipped model's card):
non-finite positions, consecutive C-alpha distances outside 3.8 +/- 0.5 A, heavy atoms closer than 1 A; and
plots the C-alpha RMSD to the start structure against time. Then it runs the analysis of ``python -m
openmm_equijump.analyze`` against the reference MD (default: the chignolin MD shipped with the package):
TIC1 x TIC2 free energies, Jensen-Shannon divergences of TICs, RMSD, GDT, Rg and native contacts, MSM-
reweighted, beside the noise floor of the reference. Everything goes to ``RUN/analysis_example/``.
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import mdtraj  # noqa: E402
import numpy as np  # noqa: E402

from openmm_equijump.analysis import AnalysisSettings  # noqa: E402
from openmm_equijump.analysis.report import summary_table  # noqa: E402
from openmm_equijump.analysis.run import analyse_files  # noqa: E402
from openmm_equijump.analysis.stability import stability_report  # noqa: E402
from openmm_equijump.runtime.load import reference_md  # noqa: E402

REFERENCE_TOPOLOGY, REFERENCE = reference_md("chignolin")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, nargs="?", default=Path("equijump_chignolin"),
                        help="output folder of python -m openmm_equijump.simulate")
    parser.add_argument("--reference-topology", default=str(REFERENCE_TOPOLOGY))
    parser.add_argument("--reference", nargs="+", default=[str(p) for p in REFERENCE])
    parser.add_argument("--reference-frame-ps", type=float, help="when the reference files do not say")
    args = parser.parse_args(argv)

    summary = json.loads((args.run / "summary.json").read_text())
    topology_file = args.run / "topology.pdb"  # the structure the run started from
    out = args.run / "analysis_example"
    out.mkdir(exist_ok=True)

    native = mdtraj.load(str(topology_file))
    checks = {}
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for path in summary["trajectories"]:
        trajectory = mdtraj.load_dcd(path, top=native.topology)
        checks[path] = stability_report(trajectory)
        calphas = native.topology.select("name CA")
        rmsd = mdtraj.rmsd(trajectory, native, atom_indices=calphas) * 10.0
        axis.plot(np.arange(1, trajectory.n_frames + 1) * summary["jump_ps"] / 1000.0, rmsd, lw=0.8,
                  label=Path(path).stem)
        print(f"{Path(path).name}: {json.dumps(checks[path])}")
    axis.set_xlabel("time (ns)")
    axis.set_ylabel("C-alpha RMSD to start (A)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "rmsd_vs_time.png", dpi=110)
    (out / "stability.json").write_text(json.dumps(checks, indent=1))

    metrics, _ = analyse_files(args.reference_topology, args.reference, summary["trajectories"], topology_file,
                               topology_file, out, AnalysisSettings(reference_frame_ps=args.reference_frame_ps))
    print(summary_table(metrics))
    print(f"EquiJump {summary['equijump_ns_per_day']:.0f} ns/day"
          + (f", {summary['ratio']:.2f} x OpenMM MD" if summary["ratio"] else "")
          + f" (batch size {summary['batch_size']}, {summary['latent_steps']} latent steps); figures in {out}")


if __name__ == "__main__":
    main()
