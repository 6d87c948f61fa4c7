"""Makes the unfolded chignolin starts of the campaign (starts/chignolin_unfolded_*.pdb).

Each start is the frame of largest C-alpha RMSD to the native structure in one of five independent 350 K
runs of the package's own chignolin MD (openmm_equijump/pretrained/chignolin/training_md, heavy atoms),
given hydrogens by OpenMM's Modeller for amber14 and written on the native topology's atom order
(structures/chignolin_amber14.pdb). The campaign minimizes every start before its first chunk.

    python data/md/make_starts.py
"""
from pathlib import Path

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit

HERE = Path(__file__).resolve().parent
MD = HERE.parents[1] / "openmm_equijump" / "pretrained" / "chignolin" / "training_md"
SEEDS = (1008, 1007, 1004, 1003, 1001)


def main() -> None:
    native = app.PDBFile(str(HERE / "structures" / "chignolin_amber14.pdb"))
    native_md = mdtraj.load(str(HERE / "structures" / "chignolin_amber14.pdb"))
    native_ca = native_md.atom_slice(native_md.top.select("name CA"))
    forcefield = app.ForceField("amber14-all.xml", "implicit/obc2.xml")
    for i, seed in enumerate(SEEDS):
        traj = mdtraj.load(str(MD / f"md_seed{seed}.xtc"), top=str(MD / "heavy_atoms.pdb"))
        rmsd_A = 10 * mdtraj.rmsd(traj.atom_slice(traj.top.select("name CA")), native_ca)
        frame = int(np.argmax(rmsd_A))
        heavy = traj[frame]
        modeller = app.Modeller(heavy.top.to_openmm(), heavy.xyz[0] * unit.nanometer)
        modeller.addHydrogens(forcefield, pH=7.0)
        xyz_nm = modeller.positions.value_in_unit(unit.nanometer)
        rebuilt = {(a.residue.index, a.name): xyz_nm[a.index] for a in modeller.topology.atoms()}
        positions = np.array([rebuilt[(a.residue.index, a.name)] for a in native.topology.atoms()]) * unit.nanometer
        out = HERE / "starts" / f"chignolin_unfolded_{i}.pdb"
        with open(out, "w") as f:
            app.PDBFile.writeFile(native.topology, positions, f, keepIds=True)
        print(f"{out.name}: md_seed{seed}.xtc frame {frame} ({(frame + 1) * 10} ps), C-alpha RMSD {rmsd_A[frame]:.2f} A")


if __name__ == "__main__":
    main()
