"""``python -m openmm_equijump.ensemble`` on a tiny walk-jump model: chains and MD side by side, the ensemble
report, the files, and the refusals of a model that is not a walk-jump model."""
import json

import mdtraj as md
import pytest

from openmm_equijump.cli.ensemble import main

from helpers import SHIPPED, bad_input

REFERENCE = SHIPPED / "reference"


def arguments(model, out, *extra):
    return ["--model", model, "--pdb", SHIPPED / "structure.pdb", "--native", SHIPPED / "structure.pdb",
            "--reference-topology", REFERENCE / "heavy_atoms.pdb", "--reference", *sorted(REFERENCE.glob("*.xtc")),
            "--chains", 2, "--samples", 12, "--walk-steps", 1, "--out", out, *extra]


def test_chains_and_md_side_by_side(tmp_path, tiny_walk_jump_model):
    out = tmp_path / "ensemble"
    assert main([str(a) for a in arguments(tiny_walk_jump_model, out)]) == 0
    result = json.loads((out / "ensemble_metrics.json").read_text())
    assert result["chains"] == 2 and result["walk_steps_per_chain"] == 12
    assert len(result["stability"]) == 2
    assert set(result["walk_jump"]["divergences"]) == {"tic1", "tic2", "rmsd", "rg", "fnc", "phi_psi", "chi1"}
    assert result["md"]["frames"] >= 1 and result["md"]["cpu_seconds"] > 0
    assert set(result["curves"]) == {"walk-jump", "OpenMM MD"}
    for r in range(2):
        samples = md.load(str(out / f"samples_{r}.dcd"), top=str(out / "heavy_atoms.pdb"))
        assert samples.n_frames == 12
    shipped = md.load(str(REFERENCE / "heavy_atoms.pdb")).topology
    assert [str(a) for a in samples.topology.atoms] == [str(a) for a in shipped.atoms]
    assert (out / "divergence_vs_cpu.png").stat().st_size > 0
    assert (out / "ensemble_config.yaml").is_file()


def test_a_model_without_a_walk_is_refused(tmp_path, tiny_model, capsys):
    message = bad_input(main, arguments(tiny_model, tmp_path / "x", "--no-md"), capsys)
    assert "not a walk-jump model" in message and "--method walk-jump" in message


def test_no_reference_is_refused(tmp_path, tiny_walk_jump_model, capsys):
    message = bad_input(main, ["--model", tiny_walk_jump_model, "--pdb", SHIPPED / "structure.pdb",
                               "--native", SHIPPED / "structure.pdb", "--out", tmp_path], capsys)
    assert "no reference MD" in message
