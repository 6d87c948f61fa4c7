"""Train an EquiJump model on your own MD, then jump with it and judge it against MD it has not seen.

    python examples/train_on_your_trajectories.py                # the chignolin MD shipped with the package
    python examples/train_on_your_trajectories.py --topology protein.pdb --structure protein_h.pdb \\
        --train run1.dcd run2.dcd --held-out run3.dcd --frame-ps 10 --temperature-k 350 --steps 20000 --out mine

Inputs: the topology of your trajectories (hydrogens and solvent may be there or not: the model learns the
protein heavy atoms), trajectories to train on, one or more trajectories held out for the comparison (never
judge a model on the MD it was trained on), the simulation-ready structure to start the jumps from (with
hydrogens, for amber14 + OBC2), and the temperature of your MD. DCD files do not always say how far apart
their frames are: give ``--frame-ps`` then (XTC files carry their times).

Steps: 1. train for ``--steps`` optimizer steps into ``OUT/model`` (the same as ``python -m
openmm_equijump.train --topology ... --trajectories ... --out OUT/model``); 2. run jumps from the structure
with ``python -m openmm_equijump.simulate``'s API into ``OUT/jumps``; 3. compare them with the held-out MD
into ``OUT/analysis`` (TIC1 x TIC2 free energy, Jensen-Shannon divergences beside the noise floor).

The defaults train a small network for a few hundred steps so that the script finishes in minutes on a
laptop; that model jumps, but its dynamics are poor. The shipped model's card gives the settings and the
number of steps that make a useful one.
"""
import argparse
from pathlib import Path


from openmm_equijump.analysis import AnalysisSettings
from openmm_equijump.analysis.report import summary_table
from openmm_equijump.analysis.run import analyse_files
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.runtime.load import PRETRAINED_DIR
from openmm_equijump.jobs.simulate import SimulateConfig, simulate
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train

CHIGNOLIN = PRETRAINED_DIR / "chignolin"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", default=str(CHIGNOLIN / "reference" / "heavy_atoms.pdb"))
    parser.add_argument("--train", nargs="+", default=[str(CHIGNOLIN / "reference" / f"md_seed{s}.xtc")
                                                       for s in (101, 2)], help="trajectories to train on")
    parser.add_argument("--held-out", nargs="+", default=[str(CHIGNOLIN / "reference" / "md_seed1.xtc")],
                        help="trajectories kept for the comparison")
    parser.add_argument("--structure", default=str(CHIGNOLIN / "structure.pdb"),
                        help="simulation-ready start structure (hydrogens, amber14 names)")
    parser.add_argument("--frame-ps", type=float, help="frame interval of the trajectories, when not in the files")
    parser.add_argument("--temperature-k", dest="temperature", type=float, default=350.0, help="K of your MD")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--jumps", type=int, default=50, help="jumps of 100 ps after training")
    parser.add_argument("--out", type=Path, default=Path("equijump_trained"))
    args = parser.parse_args(argv)

    config = TrainConfig(datasets=[DatasetConfig(args.topology, args.train, frame_ps=args.frame_ps)],
                         lag_ps=100.0, temperature_K=args.temperature, steps=args.steps, batch_size=8,
                         validate_every=100, checkpoint_every=100,
                         model=ModelConfig(H=8, conditioner_layers=2, header_layers=2))
    train(config, args.out / "model")

    summary = simulate(SimulateConfig(pdb=args.structure, model=str(args.out / "model"), jumps=args.jumps,
                                      out=str(args.out / "jumps"), latent_steps=20, compare=False))

    metrics, _ = analyse_files(args.topology, args.held_out, summary["trajectories"],
                               args.out / "jumps" / "topology.pdb", args.structure, args.out / "analysis",
                               AnalysisSettings(reference_frame_ps=args.frame_ps))
    print(summary_table(metrics))
    print(f"model: {args.out / 'model'}; jumps: {args.out / 'jumps'}; analysis: {args.out / 'analysis'}")


if __name__ == "__main__":
    main()
