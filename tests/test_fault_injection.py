"""Issue 15, replayed: the faults a careful user meets, each injected into the real commands and objects (real
files, OpenMM Contexts, tiny trained models), and the behaviour each must keep. Every known bad input ends in one
``error: ...`` line and exit status 2 (``helpers.bad_input``); nothing is lost or silently wrong."""
import csv
import io
import json
from dataclasses import replace
import re
import shutil
import signal
import threading
import time
import zipfile
from pathlib import Path

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit
import pytest
import torch
import yaml
from openmm import Context, OpenMMException, Platform, VerletIntegrator, XmlSerializer
from tqdm import tqdm

from helpers import ROOT, SHIPPED, bad_input, read_losses
from openmm_equijump.cli import analyze, evaluate, md, simulate, train
from openmm_equijump.config import config_to_dict, load_yaml, save_yaml
from openmm_equijump.jobs.rollout import run_batch, run_replica
from openmm_equijump.jobs.simulate import SimulateConfig
from openmm_equijump.md.reference import MDConfig, native_obc2_system, run_reference_md
from openmm_equijump.model.checkpoint import load_checkpoint, save_checkpoint
from openmm_equijump.model.network import ModelConfig
from openmm_equijump.runtime.export import export_jump_module, jump_module_bytes, load_jump_module
from openmm_equijump.runtime.integrator import EquiJumpIntegrator, JumpModuleError
from openmm_equijump.runtime.replicas import run_replicas
from openmm_equijump.testing import NonFinite, RigidRotation
from openmm_equijump.training.config import DatasetConfig, TrainConfig
from openmm_equijump.training.loop import train as train_run

REFERENCE = SHIPPED / "reference"
TOPOLOGY = REFERENCE / "heavy_atoms.pdb"
STRUCTURE = SHIPPED / "structure.pdb"
TINY = ModelConfig(H=4, conditioner_layers=1, header_layers=1, k_neighbors=4, n_radial=4)
NO_GPU = not torch.cuda.is_available()


def tiny_yaml(folder: Path, **settings) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({"model": config_to_dict(TINY), "batch_size": 2, "validation_pairs": 2,
                                    "validate_every": 2, "checkpoint_every": 2, **settings}))
    return path


def train_argv(folder: Path, out: Path, *extra) -> list:
    return ["--topology", TOPOLOGY, "--trajectories", REFERENCE / "md_seed2.xtc", "--out", out, "--no-progress",
            "--config", tiny_yaml(folder), "--temperature-k", "350", *extra]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A 2-step tiny training run folder (checkpoint.pt, config.yaml, losses.csv); copy it before damaging it."""
    folder = tmp_path_factory.mktemp("trained")
    assert train.main([str(a) for a in train_argv(folder, folder / "run", "--steps", "2")]) == 0
    return folder / "run"


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


@pytest.fixture(scope="module")
def chignolin():
    return app.PDBFile(str(STRUCTURE))


@pytest.fixture(scope="module")
def rotation_bytes(chignolin) -> bytes:
    return jump_module_bytes(export_jump_module(RigidRotation(), chignolin.topology, jump_ps=100.0,
                                                temperature_K=350.0))


def reference_simulation(chignolin, integrator) -> app.Simulation:
    simulation = app.Simulation(chignolin.topology, native_obc2_system(chignolin.topology), integrator,
                                Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(chignolin.positions)
    return simulation


# --- silent wrong results -------------------------------------------------------------------------------------

def test_frame_indices_stored_as_times_are_not_taken_as_ps(tmp_path, capsys):
    """mdtraj's DCD -> XTC conversion stores times 0, 1, 2: a 100 ps lag must not become 100 frames."""
    trajectory = mdtraj.load(str(REFERENCE / "md_seed2.xtc"), top=str(TOPOLOGY))
    trajectory.time = np.arange(trajectory.n_frames, dtype=np.float32)
    trajectory.save_xtc(str(tmp_path / "converted.xtc"))
    argv = ["--topology", TOPOLOGY, "--trajectories", tmp_path / "converted.xtc", "--out", tmp_path / "run",
            "--steps", "1", "--no-progress"]
    assert re.search(r"converted\.xtc.*--frame-ps", bad_input(train.main, argv, capsys))
    assert not (tmp_path / "run").exists()


def test_an_explicit_seed_wins_over_a_loaded_states_seed(tmp_path, chignolin, rotation_bytes):
    """"Equilibrate once, save the State, launch N seeds" gives N different runs."""
    saved = reference_simulation(chignolin, EquiJumpIntegrator(rotation_bytes, seed=7))
    saved.step(1)
    saved.saveState(str(tmp_path / "state.xml"))

    def launched(seed: int) -> np.ndarray:
        simulation = reference_simulation(chignolin, EquiJumpIntegrator(rotation_bytes, seed=seed))
        simulation.loadState(str(tmp_path / "state.xml"))
        simulation.step(2)
        return simulation.context.getState(getPositions=True).getPositions(asNumpy=True)._value

    assert np.abs(launched(8) - launched(9)).max() > 0.05


def test_resume_refuses_changed_settings_and_a_new_run_never_replaces_an_old_one(run_copy, tmp_path, capsys):
    assert re.search(r"--resume: .* was trained with lag_ps=100\.0; only --steps may change",
                     bad_input(train.main, ["--out", run_copy, "--resume", "--lag-ps", "50"], capsys))
    before = (run_copy / "checkpoint.pt").read_bytes()
    assert re.search(r"already holds a training run .*--resume.*--force",
                     bad_input(train.main, train_argv(tmp_path, run_copy, "--steps", "2"), capsys))
    assert (run_copy / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("yaml_text, message", [
    ("steps: ten", r"TrainConfig\.steps must be a whole number, got 'ten'"),
    ("batch_size: 2.5", r"TrainConfig\.batch_size must be a whole number, got 2\.5"),
    ('cluster_sampling: "no"', r"TrainConfig\.cluster_sampling must be true or false, got 'no'"),
    ("checkpoint_every: 0", r"TrainConfig\.checkpoint_every must be >= 1, got 0"),
    ("validate_every: 0", r"TrainConfig\.validate_every must be >= 1, got 0"),
    ("batch_size: 0", r"TrainConfig\.batch_size must be >= 1, got 0"),
    ("steps: 0", r"TrainConfig\.steps must be >= 1, got 0"),
    ("lr: fast", r"TrainConfig\.lr must be a number, got 'fast'"),
    ("model: {H: four}", r"\.model: ModelConfig\.H must be a whole number, got 'four'"),
])
def test_yaml_values_are_checked_by_type_and_range_by_name(tmp_path, capsys, yaml_text, message):
    (tmp_path / "config.yaml").write_text(yaml_text + "\n")
    line = bad_input(train.main, ["--config", tmp_path / "config.yaml", "--out", tmp_path / "run"], capsys)
    assert re.search(r"config\.yaml.*" + message, line), line


def test_yaml_numbers_pyyaml_leaves_as_strings_are_read_as_numbers(tmp_path):
    (tmp_path / "config.yaml").write_text("lr: 1e-3\nsteps: 1e4\nlag_ps: 100\n")
    config = load_yaml(TrainConfig, tmp_path / "config.yaml")
    assert (config.lr, config.steps, config.lag_ps) == (0.001, 10000, 100.0)
    assert type(config.steps) is int and type(config.lag_ps) is float


def damaged(data: bytes) -> bytes:
    """``data`` (a zip archive) with one byte flipped inside its largest member."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    member = max(archive.infolist(), key=lambda info: info.file_size)
    offset = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra) + member.file_size // 2
    flipped = bytearray(data)
    flipped[offset] ^= 0x01
    return bytes(flipped)


def test_a_damaged_jump_module_or_checkpoint_is_refused_naming_the_file(tmp_path, rotation_bytes, tiny_model,
                                                                        capsys):
    (tmp_path / "jump.pt").write_bytes(damaged(rotation_bytes))
    with pytest.raises(JumpModuleError, match=r"jump\.pt' is damaged: .*checksum.*export it again"):
        EquiJumpIntegrator(str(tmp_path / "jump.pt"))
    with pytest.raises(JumpModuleError, match=r"jump module bytes .* is damaged"):
        EquiJumpIntegrator(damaged(rotation_bytes))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.pt").write_bytes(damaged((tiny_model / "model.pt").read_bytes()))
    assert re.search(r"checkpoint .*model\.pt is damaged", bad_input(
        simulate.main, ["--model", tmp_path / "model", "--out", tmp_path / "out", "--no-compare"], capsys))
    assert not (tmp_path / "out").exists()


def test_one_changed_base64_character_in_the_integrator_xml_is_refused(rotation_bytes):
    xml = XmlSerializer.serialize(EquiJumpIntegrator(rotation_bytes, seed=1))
    start = xml.index('module="') + len('module="') + len(xml) // 4
    changed = xml[:start] + ("B" if xml[start] == "A" else "A") + xml[start + 1:]
    with pytest.raises(OpenMMException, match=r"does not match its checksum \(moduleSha256\).*damaged"):
        XmlSerializer.deserialize(changed)
    assert EquiJumpIntegrator.cast(XmlSerializer.deserialize(xml)).getSerializedModule() == rotation_bytes


def test_nan_from_checked_input_blames_the_module_not_the_input(chignolin):
    module = export_jump_module(NonFinite(), chignolin.topology, jump_ps=100.0, temperature_K=350.0)
    simulation = reference_simulation(chignolin, EquiJumpIntegrator(module, seed=1))
    with pytest.raises(OpenMMException, match=r"from finite input positions .*The jump module is at fault"):
        simulation.step(1)
    start = np.asarray(chignolin.positions.value_in_unit(unit.nanometer), dtype=np.float32)[None]
    with pytest.raises(FloatingPointError, match=r"from finite input positions .*the model is unstable"):
        run_replicas(module, start, 1, [1], progress=False)


@pytest.mark.parametrize("bad", [float("nan"), 1e30])
def test_unusable_positions_are_blamed_on_the_input_by_particle(chignolin, rotation_bytes, bad):
    simulation = reference_simulation(chignolin, EquiJumpIntegrator(rotation_bytes, seed=1))
    positions = np.array(chignolin.positions.value_in_unit(unit.nanometer))
    positions[7, 1] = bad
    simulation.context.setPositions(positions)
    with pytest.raises(OpenMMException, match="particle 7 .* The input is at fault, not the model"):
        simulation.step(1)


def test_atoms_in_scrambled_order_are_refused(chignolin, rotation_bytes):
    """Positions in another atom order than the Topology: refused by residue before the jump, the Context
    untouched (the plugin); the batched runner's module call refuses them the same way."""
    simulation = reference_simulation(chignolin, EquiJumpIntegrator(rotation_bytes, seed=1))
    positions = np.array(chignolin.positions.value_in_unit(unit.nanometer))
    scrambled = positions[np.random.default_rng(0).permutation(len(positions))]
    simulation.context.setPositions(scrambled)
    with pytest.raises(OpenMMException, match=r"residue \w+ \d+.*atom order"):
        simulation.step(1)
    state = simulation.context.getState(getPositions=True)
    np.testing.assert_array_equal(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer), scrambled)
    module = torch.jit.load(io.BytesIO(rotation_bytes))
    with pytest.raises(torch.jit.Error, match=r"replica 1, residue TYR 1 \(chain A\): its N or C is \d+\.\d A.*atom order"):
        module.jump_replicas(torch.as_tensor(np.stack([positions, scrambled])), [1, 2])
    module.jump_replicas(torch.as_tensor(positions[None]), [1])  # the right order still jumps


def test_the_readme_states_the_condition_of_exact_continuation():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "Exact continuation needs the same platform, device and thread count" in readme


def write_dcd(path: Path, frames: np.ndarray, topology) -> Path:
    with open(path, "wb") as handle:
        dcd = app.DCDFile(handle, topology, 10 * unit.picosecond, 1, 1)
        for x in frames:
            dcd.writeModel(x * unit.nanometer)
    return path


def test_analyze_refuses_too_few_frames_nan_frames_and_empty_files(tmp_path, capsys):
    frames = mdtraj.load(str(REFERENCE / "md_seed1.xtc"), top=str(TOPOLOGY)).xyz[:40].astype(np.float64)
    topology = app.PDBFile(str(TOPOLOGY)).topology
    argv = ["--topology", TOPOLOGY, "--reference", REFERENCE / "md_seed2.xtc", "--native", STRUCTURE,
            "--out", tmp_path / "report", "--generated"]
    two = write_dcd(tmp_path / "two.dcd", frames[:2], topology)
    assert "generated trajectories hold 2 frame(s) in all; the analysis needs at least 10" in bad_input(
        analyze.main, [*argv, two], capsys)
    frames[[7, 9]] = np.nan  # a blown-up run's frames, as mdtraj writes them (OpenMM's DCDFile refuses NaN)
    mdtraj.Trajectory(frames, mdtraj.load_topology(str(TOPOLOGY))).save_dcd(str(tmp_path / "nan.dcd"))
    assert re.search(r"nan\.dcd: frame\(s\) 7, 9 .*non-finite coordinates; keep the frames before 7", bad_input(
        analyze.main, [*argv, tmp_path / "nan.dcd", "--generated-frame-ps", "10"], capsys))
    assert re.search(r"empty\.dcd is empty \(a DCD header with no frames\)", bad_input(
        analyze.main, [*argv, write_dcd(tmp_path / "empty.dcd", [], topology)], capsys))
    assert not (tmp_path / "report").exists()


# --- work destroyed -------------------------------------------------------------------------------------------

def test_sigterm_checkpoints_and_the_run_resumes(tmp_path):
    """What ``timeout`` and batch schedulers send stops training after the step in progress, with a checkpoint."""
    out = tmp_path / "run"
    config = replace(load_yaml(TrainConfig, tiny_yaml(tmp_path, steps=1000, checkpoint_every=1000)),
                     datasets=[DatasetConfig(str(TOPOLOGY), [str(REFERENCE / "md_seed2.xtc")])])

    def terminate_once_training():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (out / "losses.csv").is_file() and "train" in (out / "losses.csv").read_text():
                signal.raise_signal(signal.SIGTERM)  # delivered to the main thread, inside the training loop
                return
            time.sleep(0.01)

    sender = threading.Thread(target=terminate_once_training)
    sender.start()
    with pytest.raises(KeyboardInterrupt):
        train_run(config, out, progress=False)
    sender.join()
    stopped_at = load_checkpoint(out)["step"]
    assert 0 < stopped_at < 1000
    train_run(replace(config, steps=stopped_at + 2), out, resume=True, progress=False)
    steps = [int(row["step"]) for row in read_losses(out) if row["split"] == "train"]
    assert steps == list(range(1, stopped_at + 3))


def simulate_argv(model: Path, out: Path, jumps: int, *extra) -> list:
    return ["--model", model, "--jumps", jumps, "--replicas", 2, "--latent-steps", 2, "--out", out, "--seed", 5,
            "--platform", "CPU", "--no-compare", *extra]


def rollout(mode: str, out: Path, jumps: int, chignolin, module) -> dict:
    """Replicas 0 and 1 of a simulate run in ``out``, ``jumps`` jumps each, batched or as Simulations
    (``jobs.rollout``, what ``simulate`` runs): a rerun continues from the replicas' checkpoints."""
    config = SimulateConfig(replicas=2, jumps=jumps, seed=5, out=str(out), batch_size=None if mode == "batched" else 1)
    system = native_obc2_system(chignolin.topology)
    out.mkdir(exist_ok=True)
    with tqdm(disable=True) as bar:
        if mode == "batched":
            context = Context(system, VerletIntegrator(0.001), Platform.getPlatformByName("Reference"))
            return run_batch([0, 1], config, chignolin.topology, chignolin.positions, context, module, out, bar)
        records = [run_replica(r, config, chignolin.topology, chignolin.positions, system, module, "Reference", out,
                               bar) for r in (0, 1)]
        return {key: [value for record in records for value in record[key]] for key in ("jumps_done", "jumps_run")}


@pytest.mark.parametrize("mode", ["batched", "simulation"])
def test_an_interrupted_simulate_run_resumes_exactly_without_repeated_rows(tmp_path, chignolin, rotation_bytes, mode):
    module = load_jump_module(rotation_bytes)
    rollout(mode, tmp_path / "whole", 4, chignolin, module)
    out = tmp_path / "interrupted"
    rollout(mode, out, 2, chignolin, module)
    progress = {p.name: p.read_bytes() for p in [*out.glob("replica_*.npz"), *out.glob("replica_*.chk")]}
    assert len(progress) == 2
    rollout(mode, out, 4, chignolin, module)
    for name, data in progress.items():  # the run died after jumps 3-4 were written, before their checkpoints
        (out / name).write_bytes(data)
    record = rollout(mode, out, 4, chignolin, module)
    assert record["jumps_done"] == [4, 4] and record["jumps_run"] == [2, 2]
    for r in range(2):
        np.testing.assert_array_equal(mdtraj.load_dcd(str(out / f"replica_{r}.dcd"), top=str(STRUCTURE)).xyz,
                                      mdtraj.load_dcd(str(tmp_path / "whole" / f"replica_{r}.dcd"),
                                                      top=str(STRUCTURE)).xyz)
        with open(out / f"replica_{r}.csv") as handle:
            assert [int(row[0]) for row in csv.reader(handle) if not row[0].startswith("#")] == [1, 2, 3, 4]
    assert rollout(mode, out, 4, chignolin, module)["jumps_run"] == [0, 0]


def test_simulate_checks_its_inputs_and_settings_before_touching_an_earlier_run(tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    save_yaml(SimulateConfig(model=str(tiny_model), jumps=4, replicas=2, latent_steps=2, out=str(out), seed=5,
                             platform="CPU", compare=False), out / "simulate_config.yaml")
    (out / "replica_0.dcd").write_bytes(b"the earlier run's frames")
    if NO_GPU:
        assert "--device 'cuda'" in bad_input(simulate.main, simulate_argv(tiny_model, out, 4, "--device", "cuda"),
                                              capsys)
    assert re.search(r"holds a run with seed=5, not 6; use the same settings to continue it, another --out, or "
                     r"--force", bad_input(simulate.main, simulate_argv(tiny_model, out, 4, "--seed", 6), capsys))
    assert (out / "replica_0.dcd").read_bytes() == b"the earlier run's frames"


def test_simulate_command_resumes_and_claims_no_speed_for_a_run_with_nothing_left(tiny_model, tmp_path, capsys):
    def run(out: Path, jumps: int) -> dict:
        assert simulate.main([str(a) for a in simulate_argv(tiny_model, out, jumps)]) == 0
        return json.loads((out / "summary.json").read_text())

    run(tmp_path / "whole", 4)
    run(tmp_path / "out", 2)
    capsys.readouterr()
    assert run(tmp_path / "out", 4)["jumps_run"] == 4
    assert "4 jumps by an earlier run, continued" in capsys.readouterr().out
    for r in range(2):
        assert (tmp_path / "out" / f"replica_{r}.dcd").stat().st_size == \
               (tmp_path / "whole" / f"replica_{r}.dcd").stat().st_size
    summary = run(tmp_path / "out", 4)
    assert summary["jumps_run"] == 0 and summary["equijump_ns_per_day"] is None and summary["jumps_done"] == 8


def test_md_checks_its_input_before_claiming_the_folder(tmp_path, capsys):
    (tmp_path / "garbage.pdb").write_text("this is not\na PDB file\nATOM  xx\n")
    lines = STRUCTURE.read_text().splitlines(keepends=True)
    (tmp_path / "truncated.pdb").write_text("".join(lines[:40]) + lines[40][:35])
    for name in ("garbage.pdb", "truncated.pdb"):
        out = tmp_path / f"md_{name}"
        assert re.search(rf"{name} is not a readable PDB or PDBx/mmCIF file .*complete", bad_input(
            md.main, ["--pdb", tmp_path / name, "--out", out, "--ns", "0.001"], capsys))
        assert not out.exists()
    assert re.search(r"platform 'Potato' is not available", bad_input(
        md.main, ["--pdb", STRUCTURE, "--out", tmp_path / "md", "--platform", "Potato"], capsys))
    assert not (tmp_path / "md").exists()


def test_md_log_has_no_repeated_row_after_a_resume_and_counts_only_what_ran(tmp_path):
    config = MDConfig(pdb=str(STRUCTURE), ns=0.001, frame_ps=0.1, chunk_ns=0.001, threads=1, seed=3)
    run_reference_md(config, tmp_path)
    checkpoint = (tmp_path / "replica_0.chk").read_bytes()
    config.ns = 0.002
    run_reference_md(config, tmp_path)
    (tmp_path / "replica_0.chk").write_bytes(checkpoint)  # died after the rows of 1-2 ps, before their checkpoint
    run_reference_md(config, tmp_path)
    with open(tmp_path / "replica_0.csv") as handle:
        steps = [int(row[0]) for row in csv.reader(handle) if not row[0].startswith("#")]
    assert steps == [250, 500]
    config.ns = 0.001  # a rerun with less to do than is done: nothing runs, no speed
    summary = run_reference_md(config, tmp_path)
    assert summary["simulated_ns"] == 0 and summary["ns_per_day"] is None


# --- unclear or crashing --------------------------------------------------------------------------------------

def test_train_batch_size_zero_is_refused_by_name(tmp_path, capsys):
    assert "TrainConfig.batch_size must be >= 1, got 0" in bad_input(
        train.main, train_argv(tmp_path, tmp_path / "run", "--batch-size", "0"), capsys)
    assert not (tmp_path / "run").exists()


def test_a_corrupt_checkpoint_on_resume_is_refused_naming_the_file(run_copy, capsys):
    checkpoint = run_copy / "checkpoint.pt"
    good = checkpoint.read_bytes()
    checkpoint.write_bytes(good[: len(good) // 2])
    assert re.search(r"checkpoint .*checkpoint\.pt is damaged or not written by torch", bad_input(
        train.main, ["--out", run_copy, "--resume", "--no-progress"], capsys))
    checkpoint.write_bytes(good)
    data = torch.load(checkpoint, weights_only=False)
    del data["rng"]
    save_checkpoint(checkpoint, {k: v for k, v in data.items() if k != "format_version"})
    assert re.search(r"checkpoint\.pt lacks rng: it cannot be resumed", bad_input(
        train.main, ["--out", run_copy, "--resume", "--no-progress"], capsys))
    checkpoint.write_bytes(good)
    (run_copy / "losses.csv").write_text("step,split,lr,loss\n1,train,0.003,1.0\ngarbage\n")
    assert re.search(r"losses\.csv is damaged", bad_input(
        train.main, ["--out", run_copy, "--resume", "--steps", "3", "--no-progress"], capsys))


def test_evaluate_with_no_jumps_is_refused(tmp_path, capsys):
    assert "EvaluateConfig.jumps must be >= 1, got 0" in bad_input(
        evaluate.main, ["--jumps", "0", "--replicas", "1", "--out", tmp_path / "eval"], capsys)
    assert not (tmp_path / "eval").exists()


def test_a_model_without_a_temperature_runs_when_simulate_is_told_one(tiny_model, tmp_path, capsys):
    data = torch.load(tiny_model / "model.pt", weights_only=False)
    data["config"]["temperature_K"] = None
    (tmp_path / "model").mkdir()
    save_checkpoint(tmp_path / "model" / "model.pt", {k: v for k, v in data.items() if k != "format_version"})
    argv = simulate_argv(tmp_path / "model", tmp_path / "out", 1)
    assert "does not record the temperature of its training data (trained without --temperature-k): give it" \
           in bad_input(simulate.main, argv, capsys)
    assert not (tmp_path / "out").exists()
    assert simulate.main([str(a) for a in argv + ["--temperature-k", "350"]]) == 0


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_before_anything_is_written(tiny_model, tmp_path, capsys):
    assert re.search(r"--device 'cuda': torch sees 0 CUDA device\(s\) here; use --device cpu", bad_input(
        train.main, train_argv(tmp_path, tmp_path / "run", "--device", "cuda"), capsys))
    assert not (tmp_path / "run").exists()
    assert re.search(r"--device 'cuda'", bad_input(
        simulate.main, simulate_argv(tiny_model, tmp_path / "out", 1, "--device", "cuda"), capsys))
    assert not (tmp_path / "out").exists()
    assert "is not a device torch knows" in bad_input(
        simulate.main, simulate_argv(tiny_model, tmp_path / "out", 1, "--device", "potato"), capsys)
