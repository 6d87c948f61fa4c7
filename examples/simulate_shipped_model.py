"""Simulate chignolin with the shipped EquiJump model, the way any OpenMM integrator is used.

    python examples/simulate_shipped_model.py                      # 20 jumps of 100 ps = 2 ns
    python examples/simulate_shipped_model.py --jumps 500 --out chignolin_jumps.dcd --seed 7

The structure is the simulation-ready chignolin that ships with the package (amber14 atom names, hydrogens).
The System is the one the reference MD was run with (amber14 + OBC2 implicit solvent as the native
GBSAOBCForce, hydrogen mass 4 amu): the jumps do not use its forces, but the StateDataReporter reports its
potential energy, and the plugin checks the System's atoms against the model's. Each ``step`` is one learned
100 ps jump; velocities are drawn at the model's temperature after each jump. For several replicas, the MD
yardstick and the comparison with reference MD in one command, use ``python -m openmm_equijump.simulate``.
"""
import argparse
import sys

from openmm.app import DCDReporter, PDBFile, Simulation, StateDataReporter

from openmm_equijump import EquiJumpIntegrator, load_model
from openmm_equijump.md.reference import native_obc2_system
from openmm_equijump.runtime.load import PRETRAINED_DIR


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jumps", type=int, default=20)
    parser.add_argument("--out", default="chignolin_jumps.dcd", help="DCD with one frame per jump")
    parser.add_argument("--seed", type=int, default=1, help="seed of the jumps (0: a random one)")
    parser.add_argument("--latent-steps", type=int, help="sampler steps per jump (default: the sampler's)")
    args = parser.parse_args(argv)

    pdb = PDBFile(str(PRETRAINED_DIR / "chignolin" / "structure.pdb"))
    system = native_obc2_system(pdb.topology)
    model = load_model("chignolin", topology=pdb.topology, latent_steps=args.latent_steps)  # the jump module
    simulation = Simulation(pdb.topology, system, EquiJumpIntegrator(model, seed=args.seed))
    simulation.context.setPositions(pdb.positions)
    simulation.reporters.append(DCDReporter(args.out, 1))  # one frame per jump
    simulation.reporters.append(StateDataReporter(sys.stdout, 5, step=True, time=True, potentialEnergy=True,
                                                  temperature=True, speed=True))
    simulation.step(args.jumps)
    print(f"{args.jumps} jumps = {simulation.context.getState().getTime()} written to {args.out}")


if __name__ == "__main__":
    main()
