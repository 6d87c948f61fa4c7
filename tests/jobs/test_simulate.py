"""``python -m openmm_equijump.simulate``: real runs of a tiny trained model through openmm.app.Simulation."""
import csv
import importlib.util
import json
import re
from pathlib import Path

import mdtraj
import numpy as np
import pytest
import yaml
from openmm import Context, Platform, VerletIntegrator
from openmm.app import PDBFile
from tqdm import tqdm

from openmm_equijump.trajectory_files import dcd_header_interval_ps
from openmm_equijump.runtime.export import export_jump_module
from openmm_equijump.md.reference import native_obc2_system
from openmm_equijump.runtime.load import PRETRAINED_DIR, available_models
from openmm_equijump.runtime.replicas import jump_seed
from openmm_equijump.cli.simulate import main
from openmm_equijump.jobs.rollout import run_batch
from openmm_equijump.jobs.simulate import DEFAULT_PDB, SimulateConfig, SimulateError, simulate

from helpers import ROOT, bad_input, structure_file

from openmm_equijump.testing import BlowsUpOnSeed

EXAMPLES = ROOT / "examples"
JUMPS, REPLICAS, LATENT_STEPS = 4, 2, 3


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tiny_model, tmp_path_factory) -> tuple[Path, dict]:
    """The replicas in one batch (the default)."""
    out = tmp_path_factory.mktemp("simulate") / "out"
    assert main(["--model", str(tiny_model), "--jumps", str(JUMPS), "--replicas", str(REPLICAS),
                 "--latent-steps", str(LATENT_STEPS), "--out", str(out), "--seed", "5", "--md-seconds", "0.5",
                 "--platform", "CPU"]) == 0
    return out, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def sequential_run(tiny_model, tmp_path_factory) -> tuple[Path, dict]:
    """The same replicas, each an openmm.app.Simulation with the EquiJumpIntegrator (--batch-size 1)."""
    out = tmp_path_factory.mktemp("simulate_sequential") / "out"
    assert main(["--model", str(tiny_model), "--jumps", str(JUMPS), "--replicas", str(REPLICAS),
                 "--batch-size", "1", "--latent-steps", str(LATENT_STEPS), "--out", str(out), "--seed", "5",
                 "--platform", "CPU", "--no-compare"]) == 0
    return out, json.loads((out / "summary.json").read_text())


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_writes_one_dcd_and_csv_per_replica_with_one_frame_per_jump(run):
    out, _ = run
    topology = mdtraj.load_topology(str(out / "topology.pdb"))
    assert topology.n_atoms == 166
    calphas = topology.select("name CA")
    trajectories = [mdtraj.load_dcd(str(out / f"replica_{r}.dcd"), top=topology) for r in range(REPLICAS)]
    for replica, trajectory in enumerate(trajectories):
        assert trajectory.xyz.shape == (JUMPS, 166, 3)
        assert np.isfinite(trajectory.xyz).all()
        # a tiny, barely trained model drifts from 3.8 A by a few A in 4 jumps (1.5 - 9.7 A measured): the
        # band catches a blow-up, not poor quality (the shipped model's card holds 3.8 +/- 0.5 A)
        distances = np.linalg.norm(np.diff(trajectory.xyz[:, calphas], axis=1), axis=-1) * 10.0
        assert ((distances > 0.5) & (distances < 20.0)).all(), distances
        assert dcd_header_interval_ps(out / f"replica_{replica}.dcd") == 100.0
        rows = read_log(out / f"replica_{replica}.csv")
        assert [int(r['#"Step"']) for r in rows] == list(range(1, JUMPS + 1))
        assert [float(r["Time (ps)"]) for r in rows] == pytest.approx([100.0 * (i + 1) for i in range(JUMPS)])
        assert all(np.isfinite(float(r["Potential Energy (kJ/mole)"])) for r in rows)
        assert all(float(r["Speed (ns/day)"]) > 0 for r in rows)
    assert not np.allclose(trajectories[0].xyz, trajectories[1].xyz), "replicas must run with different seeds"


def test_a_batch_equals_the_replicas_run_one_by_one_through_openmm(run, sequential_run):
    """Replica r of the batch is the Simulation with EquiJumpIntegrator(seed=seed + r): same frames to float32
    round-off, same energies and DCD headers; the batched log has no temperature (no velocities)."""
    (batched, summary), (sequential, sequential_summary) = run, sequential_run
    assert summary["batch_size"] == REPLICAS and sequential_summary["batch_size"] == 1
    assert sequential_summary["batches"] == REPLICAS and summary["batches"] == 1
    topology = str(batched / "topology.pdb")
    for r in range(REPLICAS):
        a = mdtraj.load_dcd(str(batched / f"replica_{r}.dcd"), top=topology)
        b = mdtraj.load_dcd(str(sequential / f"replica_{r}.dcd"), top=topology)
        # float32 round-off, which the covalent projection's bounds (a pair just at its bound is pushed or not)
        # can grow to ~1e-4 nm
        np.testing.assert_allclose(a.xyz, b.xyz, atol=1e-4)
        assert dcd_header_interval_ps(batched / f"replica_{r}.dcd") == \
            dcd_header_interval_ps(sequential / f"replica_{r}.dcd")
        rows, sequential_rows = read_log(batched / f"replica_{r}.csv"), read_log(sequential / f"replica_{r}.csv")
        assert list(rows[0]) == [c for c in sequential_rows[0] if c != "Temperature (K)"]
        # the tiny model's frames clash (1e5-1e6 kJ/mol), where r^-12 makes the positions' float32 round-off
        # a ~1e-3 relative difference in energy
        for column in ('#"Step"', "Time (ps)", "Potential Energy (kJ/mole)"):
            np.testing.assert_allclose([float(row[column]) for row in rows],
                                       [float(row[column]) for row in sequential_rows], rtol=2e-3, atol=0.05)


def test_summary_and_config_hold_sane_numbers(run, tiny_model):
    out, summary = run
    assert summary["jumps_done"] == JUMPS * REPLICAS and summary["replicas"] == REPLICAS
    assert summary["simulated_ns"] == pytest.approx(JUMPS * REPLICAS * 0.1)
    assert summary["latent_steps"] == LATENT_STEPS and summary["batch_size"] == REPLICAS
    assert summary["device"] == "cpu" and summary["platform"] == "CPU"
    for key in ("equijump_ns_per_day", "equijump_ns_per_day_steady", "md_ns_per_day", "ratio", "ratio_steady",
                "jump_wall_s", "wall_s", "model_load_s"):
        assert np.isfinite(summary[key]) and summary[key] > 0, key
    assert summary["ratio"] == pytest.approx(summary["equijump_ns_per_day"] / summary["md_ns_per_day"])
    assert summary["wall_s"] > summary["jump_wall_s"] > sum(summary["first_jump_s"])
    config = yaml.safe_load((out / "simulate_config.yaml").read_text())
    assert SimulateConfig(**config) == SimulateConfig(model=str(tiny_model), jumps=JUMPS, replicas=REPLICAS,
                                                      latent_steps=LATENT_STEPS, out=str(out), seed=5,
                                                      md_seconds=0.5, platform="CPU")


def test_a_replica_that_blows_up_in_a_batch_keeps_its_frames_and_the_others_go_on(tmp_path):
    structure = str(structure_file("chignolin_amber14.pdb"))
    pdb = PDBFile(structure)
    config = SimulateConfig(replicas=3, jumps=3, seed=3, out=str(tmp_path))
    module = export_jump_module(BlowsUpOnSeed(jump_seed(4, 1)), pdb.topology, jump_ps=100.0, temperature_K=350.0)
    energy_context = Context(native_obc2_system(pdb.topology), VerletIntegrator(0.001),
                             Platform.getPlatformByName("Reference"))
    with tqdm(disable=True) as bar:
        record = run_batch([0, 1, 2], config, pdb.topology, pdb.positions, energy_context, module, tmp_path, bar)
    assert record["jumps_done"] == [3, 1, 3] and record["blown_up_at_jump"] == [None, 1, None]
    for r, frames in enumerate(record["jumps_done"]):
        assert mdtraj.load_dcd(str(tmp_path / f"replica_{r}.dcd"), top=structure).n_frames == frames
        assert len(read_log(tmp_path / f"replica_{r}.csv")) == frames


def test_too_short_a_run_skips_the_analysis_with_the_reason(run):
    _, summary = run
    assert "too few" in summary["analysis"]["skipped"]
    assert not (run[0] / "analysis").exists()


@pytest.mark.slow
def test_analysis_against_the_shipped_reference_and_the_analysis_example(tiny_model, tmp_path):
    out = tmp_path / "out"
    summary = simulate(SimulateConfig(model=str(tiny_model), jumps=25, latent_steps=2, out=str(out),
                                      md_seconds=0.5, platform="CPU"))
    analysis = out / "analysis"
    assert summary["analysis"]["metrics"] == str(analysis / "metrics.json")
    assert (analysis / "tica_free_energy.png").stat().st_size > 0
    metrics = json.loads((analysis / "metrics.json").read_text())
    assert metrics["generated_vs_reference"]["generated_frames"] == 25
    divergences = summary["analysis"]["divergences_reweighted"]
    assert all(0 <= value <= np.log(2) + 1e-9 for value in divergences.values()), divergences

    load_example("analyse_a_run").main([str(out)])
    stability = json.loads((out / "analysis_example" / "stability.json").read_text())
    assert [entry["frames"] for entry in stability.values()] == [25]
    assert stability[summary["trajectories"][0]]["non_finite_frames"] == 0
    assert (out / "analysis_example" / "rmsd_vs_time.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["simulate_shipped_model", "train_on_your_trajectories", "analyse_a_run"])
def test_examples_import_and_say_how_to_run_them(name):
    module = load_example(name)
    assert f"python examples/{name}.py" in module.__doc__
    assert callable(module.main)


def test_unknown_model_lists_the_shipped_ones(tmp_path, capsys):
    message = bad_input(main, ["--model", "no_such_model", "--out", tmp_path / "out", "--no-compare"], capsys)
    shipped = ", ".join(available_models()) or "none"
    assert f"no model 'no_such_model': not a shipped model ({shipped})" in message


def test_structure_with_water_is_refused_with_the_topology_error(tiny_model, tmp_path, capsys):
    message = bad_input(main, ["--pdb", structure_file("CLN025.pdb"), "--model", tiny_model,
                               "--out", tmp_path / "out", "--no-compare"], capsys)
    assert not (tmp_path / "out").exists()
    assert "CLN025.pdb" in message and "explicit water: HOH" in message and "--prepare" in message


def test_settings_are_checked_by_name(tmp_path, capsys):
    with pytest.raises(SimulateError, match="seed must be >= 1"):
        SimulateConfig(seed=0)
    with pytest.raises(SimulateError, match="jumps must be >= 1"):
        SimulateConfig(jumps=0)
    with pytest.raises(SimulateError, match="batch_size must be >= 1"):
        SimulateConfig(batch_size=0)
    with pytest.raises(SimulateError, match="compiled jump modules run on the CPU, not device 'cuda'"):
        SimulateConfig(compiled=True, device="cuda")
    assert SimulateConfig(replicas=5, batch_size=2).batches == [[0, 1], [2, 3], [4]]
    assert SimulateConfig(replicas=3).batches == [[0, 1, 2]] and SimulateConfig().batches == [[0]]
    message = bad_input(main, ["--pdb", tmp_path / "missing.pdb", "--out", tmp_path / "out", "--no-compare"], capsys)
    assert re.search("structure file .*missing.pdb does not exist", message)
    assert not (tmp_path / "out").exists(), "a run that cannot start must leave no output folder"
    assert Path(SimulateConfig().pdb) == DEFAULT_PDB and DEFAULT_PDB.is_file()


@pytest.mark.slow
def test_prepare_makes_a_crystal_structure_simulation_ready(tiny_model, tmp_path):
    out = tmp_path / "out"
    summary = simulate(SimulateConfig(pdb=str(structure_file("CLN025.pdb")), model=str(tiny_model),
                                      jumps=2, latent_steps=2, out=str(out), compare=False, prepare=True))
    topology = mdtraj.load_topology(str(out / "topology.pdb"))
    assert topology.n_residues == 10 and topology.select("element H").size > 0
    assert mdtraj.load_dcd(summary["trajectories"][0], top=topology).n_frames == 2


def test_structure_without_hydrogens_asks_for_prepare(tiny_model, tmp_path, capsys):
    heavy_atoms = PRETRAINED_DIR / "chignolin" / "reference" / "heavy_atoms.pdb"
    message = bad_input(main, ["--pdb", heavy_atoms, "--model", tiny_model, "--out", tmp_path / "out", "--no-compare"],
                        capsys)
    assert re.search(r"heavy_atoms.pdb: amber14 \+ OBC2 cannot build a System .*--prepare", message)
    assert not (tmp_path / "out").exists()


def test_a_forward_blocks_model_simulates_one_frame_per_jump(tiny_blocks_model, tmp_path):
    """simulate with a blocks model (windows of 4 frames 10 ps apart): 5 frames per replica, 10 ps apart, two
    blocks chained; --latent-steps sets its ancestral steps per block."""
    out = tmp_path / "blocks"
    assert main(["--model", str(tiny_blocks_model), "--jumps", "5", "--replicas", "2", "--latent-steps", "2",
                 "--out", str(out), "--platform", "CPU", "--no-compare"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "latent_steps" in json.dumps(summary)
    frames = mdtraj.load(str(out / "replica_1.dcd"), top=str(DEFAULT_PDB))
    assert frames.n_frames == 5 and np.isfinite(frames.xyz).all()
    assert dcd_header_interval_ps(out / "replica_1.dcd") == pytest.approx(10.0)
