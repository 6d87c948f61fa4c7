"""``python -m openmm_equijump.interpolate`` end to end on a tiny interpolation model trained for a few steps on
the shipped chignolin MD: paths start and end at the given structures, carry the template's hydrogens, do not
depend on how they are batched; other runs and mismatched structures are refused by name."""
import re

import mdtraj
import numpy as np
import pytest
import yaml

from helpers import SHIPPED, bad_input
from openmm_equijump.cli.interpolate import main
from openmm_equijump.cli.train import main as train
from openmm_equijump.trajectory_files import frame_interval_ps

REFERENCE = SHIPPED / "reference"
STRUCTURE = SHIPPED / "structure.pdb"  # all atoms, the MD's native start
FRAMES = 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A structure run (3 steps) and interpolation and forward blocks runs (2 steps) on it."""
    folder = tmp_path_factory.mktemp("interpolation_runs")
    data = ["--dataset", REFERENCE / "heavy_atoms.pdb", REFERENCE / "md_seed1.xtc", REFERENCE / "md_seed2.xtc",
            "--no-progress", "--batch-size", "2", "--temperature-k", "350"]
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": {"H": 4, "conditioner_layers": 1, "header_layers": 1,
                                                "k_neighbors": 4, "n_radial": 4}, "validation_pairs": 4,
                                      "validate_every": 3, "checkpoint_every": 3}))
    out = {name: folder / name for name in ("structure", "interpolation", "forward")}
    assert train([str(a) for a in data + ["--method", "structure", "--config", config, "--steps", "3",
                                          "--out", out["structure"]]]) == 0
    for task in ("interpolation", "forward"):
        assert train([str(a) for a in data + ["--method", "blocks", "--pretrained", out["structure"], "--task", task,
                                              "--frames", str(FRAMES), "--lag-ps", "10", "--steps", "2",
                                              "--out", out[task]]]) == 0
    return out


@pytest.fixture(scope="module")
def end_pdb(tmp_path_factory):
    """A heavy-atom frame of the reference MD 3 ns in (a start's other end)."""
    path = tmp_path_factory.mktemp("end") / "end.pdb"
    mdtraj.load(str(REFERENCE / "md_seed1.xtc"), top=str(REFERENCE / "heavy_atoms.pdb"))[300].save_pdb(str(path))
    return path


def run(argv) -> int:
    return main([str(a) for a in argv])


def test_paths_go_from_the_start_to_the_end_structure_with_hydrogens_and_any_batching(runs, end_pdb, tmp_path):
    out = tmp_path / "paths"
    flags = ["--model", runs["interpolation"], "--start", STRUCTURE, "--end", end_pdb, "--steps", "4"]
    assert run(flags + ["--paths", "3", "--batch-size", "2", "--out", out]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["interpolate_config.yaml", "path_0.dcd", "path_1.dcd",
                                                      "path_2.dcd", "topology.pdb"]
    saved = yaml.safe_load((out / "interpolate_config.yaml").read_text())
    assert saved["paths"] == 3 and saved["model"] == str(runs["interpolation"])
    start, end = mdtraj.load(str(STRUCTURE)), mdtraj.load(str(end_pdb))
    heavy = start.topology.select("not element H")
    paths = [mdtraj.load(str(out / f"path_{k}.dcd"), top=str(out / "topology.pdb")) for k in range(3)]
    for path in paths:
        assert path.n_frames == FRAMES and path.n_atoms == start.n_atoms  # hydrogens rebuilt
        assert frame_interval_ps(out / "path_0.dcd") == pytest.approx(10.0)
        # frame 0 is the start where it was; the last frame the end superposed onto it (within the projection)
        assert np.sqrt(((path.xyz[0, heavy] - start.xyz[0, heavy]) ** 2).sum(-1).mean()) * 10 < 0.2
        assert mdtraj.rmsd(path.atom_slice(heavy)[-1], end)[0] * 10 < 0.2
        assert mdtraj.rmsd(path.atom_slice(heavy)[FRAMES // 2], start.atom_slice(heavy))[0] * 10 > 0.5
    assert not np.allclose(paths[0].xyz[1:-1], paths[1].xyz[1:-1], atol=1e-2)  # each path its own noise
    alone = tmp_path / "alone"
    assert run(flags + ["--paths", "1", "--batch-size", "1", "--out", alone]) == 0
    first = mdtraj.load(str(alone / "path_0.dcd"), top=str(alone / "topology.pdb"))
    # path 0 does not depend on the others: float32 round-off of another batch, grown by the sampler's
    # levels (up to 157 A) and the projection to hundredths of an Angstrom
    assert np.abs(first.xyz - paths[0].xyz).max() * 10 < 0.1


def test_other_runs_and_other_proteins_are_refused_by_name(runs, end_pdb, tmp_path, capsys):
    base = ["--start", STRUCTURE, "--end", end_pdb, "--out", tmp_path / "x"]
    assert "is a --method blocks --task forward run; interpolate needs a run trained with --method blocks --task " \
           "interpolation" in bad_input(main, ["--model", runs["forward"], *base], capsys)
    assert "is a --method structure run" in bad_input(main, ["--model", runs["structure"], *base], capsys)
    end = mdtraj.load(str(end_pdb))
    shorter, no_oh, mutant = tmp_path / "shorter.pdb", tmp_path / "no_oh.pdb", tmp_path / "mutant.pdb"
    end.atom_slice(end.topology.select("resid 0 to 8")).save_pdb(str(shorter))
    end.atom_slice(end.topology.select("not (resname TYR and name OH)")).save_pdb(str(no_oh))
    serine = end.atom_slice(end.topology.select("not (resid 7 and name CG2)"))  # T8 -> S, all its atoms
    residue = serine.topology.residue(7)
    residue.name, next(a for a in residue.atoms if a.name == "OG1").name = "SER", "OG"
    serine.save_pdb(str(mutant))
    flags = ["--model", runs["interpolation"], "--start", STRUCTURE, "--out", tmp_path / "y"]
    assert "shorter.pdb has 9 residues" in bad_input(main, flags + ["--end", shorter], capsys)
    assert "residue 8 is THR 8 (chain A) in" in bad_input(main, flags + ["--end", mutant], capsys)
    assert re.search(r"no_oh\.pdb: missing heavy atom\(s\) OH in TYR 1", bad_input(main, flags + ["--end", no_oh], capsys))
    assert "missing.pdb: no such file" in bad_input(main, flags + ["--end", tmp_path / "missing.pdb"], capsys)
    assert "InterpolateConfig.paths must be >= 1" in bad_input(main, flags + ["--end", end_pdb, "--paths", "0"],
                                                                capsys)
