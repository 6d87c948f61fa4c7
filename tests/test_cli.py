"""Every command turns bad input into one line ``error: ...`` naming the file or setting, and exit status 2:
a missing file, a topology that does not fit, a bad config value. None of these runs a model or MD."""
import re

import pytest
import yaml

from helpers import SHIPPED, bad_input
from openmm_equijump.cli import analyze, command, evaluate, md, simulate, train

TRAINING = SHIPPED / "training_md"
REFERENCE = SHIPPED / "reference"


@pytest.fixture(scope="module")
def with_water(tmp_path_factory):
    """The shipped chignolin structure with one water molecule: the model refuses it."""
    path = tmp_path_factory.mktemp("water") / "with_water.pdb"
    lines = [line for line in (SHIPPED / "structure.pdb").read_text().splitlines() if line.startswith("ATOM")]
    water = ["HETATM  167  O   HOH B   1      30.000  30.000  30.000  1.00  0.00           O",
             "HETATM  168  H1  HOH B   1      30.957  30.000  30.000  1.00  0.00           H",
             "HETATM  169  H2  HOH B   1      29.760  30.927  30.000  1.00  0.00           H"]
    path.write_text("\n".join(lines + ["TER"] + water + ["END"]) + "\n")
    return path


def bad_yaml(tmp_path, data) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_train(tmp_path, capsys):
    base = ["--out", tmp_path / "run", "--no-progress"]
    assert re.search(r"trajectory .*missing\.xtc: no such file", bad_input(
        train.main, ["--topology", TRAINING / "heavy_atoms.pdb", "--trajectories", tmp_path / "missing.xtc", *base],
        capsys))
    assert re.search(r"md_seed1003\.xtc has \d+ atoms .*structure\.pdb has 166", bad_input(
        train.main, ["--topology", SHIPPED / "structure.pdb", "--trajectories", TRAINING / "md_seed1003.xtc", *base],
        capsys))
    config = bad_yaml(tmp_path, {"model": {"H": 0}})
    assert re.search(r"config\.yaml\.model: ModelConfig\.H must be >= 1",
                     bad_input(train.main, ["--config", config, *base], capsys))
    assert "unknown TrainConfig setting(s) ['stepz']" in bad_input(
        train.main, ["--config", bad_yaml(tmp_path, {"stepz": 3}), *base], capsys)


def test_simulate(tmp_path, with_water, capsys):
    out = ["--out", tmp_path / "out", "--no-compare"]
    assert re.search(r"structure file .*missing\.pdb does not exist",
                     bad_input(simulate.main, ["--pdb", tmp_path / "missing.pdb", *out], capsys))
    assert re.search(r"with_water\.pdb: .*water", bad_input(simulate.main, ["--pdb", with_water, *out], capsys))
    assert "jumps must be >= 1" in bad_input(simulate.main, ["--jumps", "0", *out], capsys)
    assert "unknown SimulateConfig setting(s) ['jumpz']" in bad_input(
        simulate.main, ["--config", bad_yaml(tmp_path, {"jumpz": 3}), *out], capsys)
    assert not (tmp_path / "out").exists()


def test_md(tmp_path, capsys):
    out = ["--out", tmp_path / "md"]
    assert re.search(r"no structure file .*missing\.pdb", bad_input(md.main, ["--pdb", tmp_path / "missing.pdb", *out],
                                                                    capsys))
    assert re.search(r"md_seed1\.xtc is not a PDB or PDBx/mmCIF file",
                     bad_input(md.main, ["--pdb", REFERENCE / "md_seed1.xtc", *out], capsys))
    assert "MDConfig.ns must be > 0" in bad_input(md.main, ["--pdb", SHIPPED / "structure.pdb", "--ns", "-1", *out],
                                                  capsys)
    assert "--temperature-k: invalid float value: 'hot'" in bad_input(
        md.main, ["--pdb", SHIPPED / "structure.pdb", "--temperature-k", "hot", *out], capsys)


def test_evaluate(tmp_path, with_water, capsys):
    out = ["--out", tmp_path / "eval", "--replicas", "1", "--jumps", "1"]
    assert re.search(r"missing\.pdb", bad_input(evaluate.main, ["--pdb", tmp_path / "missing.pdb", *out], capsys))
    assert re.search(r"water", bad_input(evaluate.main, ["--pdb", with_water, *out], capsys))
    assert "SamplerConfig.latent_steps must be >= 1" in bad_input(
        evaluate.main, ["--latent-steps", "0", *out], capsys)
    assert "EvaluateConfig.replicas must be >= 1" in bad_input(
        evaluate.main, ["--config", bad_yaml(tmp_path, {"out": str(tmp_path), "replicas": 0})], capsys)


def test_analyze(tmp_path, capsys):
    files = ["--topology", REFERENCE / "heavy_atoms.pdb", "--reference", REFERENCE / "md_seed2.xtc",
             "--native", SHIPPED / "structure.pdb", "--out", tmp_path / "report"]
    assert re.search(r"generated trajectory .*missing\.dcd: no such file",
                     bad_input(analyze.main, [*files, "--generated", tmp_path / "missing.dcd"], capsys))
    assert re.search(r"md_seed1\.xtc does not fit its topology .*structure\.pdb", bad_input(
        analyze.main, [*files, "--generated", REFERENCE / "md_seed1.xtc", "--generated-topology",
                       SHIPPED / "structure.pdb"], capsys))
    assert "AnalysisSettings.n_bins must be >= 1" in bad_input(
        analyze.main, [*files, "--generated", REFERENCE / "md_seed1.xtc", "--n-bins", "0"], capsys)
    assert "the following arguments are required: --generated" in bad_input(analyze.main, files, capsys)


def test_a_bug_keeps_its_traceback():
    @command
    def broken(argv):
        raise RuntimeError("not bad input: a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        broken([])

