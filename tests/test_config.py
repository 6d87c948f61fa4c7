"""One config layer: every run config goes to YAML and back, refuses unknown keys, reads renamed keys under
their old names, and a command's --config is overridden by the flags given with it."""
import pytest
import yaml

from openmm_equijump.analysis.run import AnalyzeConfig
from openmm_equijump.analysis.settings import AnalysisSettings
from openmm_equijump.cli import analyze, evaluate, md, simulate
from openmm_equijump.config import load_yaml, save_yaml
from openmm_equijump.errors import ConfigError
from openmm_equijump.jobs.evaluate import EvaluateConfig
from openmm_equijump.jobs.simulate import SimulateConfig
from openmm_equijump.md.reference import MDConfig
from openmm_equijump.model.sampler import SamplerConfig
from openmm_equijump.model.transports import TransportConfig
from openmm_equijump.training.config import DatasetConfig, TrainConfig

CONFIGS = [
    TrainConfig(datasets=[DatasetConfig("/a.pdb", ["/a.xtc"], 10.0)], steps=7, transport=TransportConfig(kind="ddpm")),
    SimulateConfig(jumps=3, replicas=2, temperature_K=300.0),
    MDConfig(pdb="/p.pdb", ns=2.0, chains=["A"]),
    EvaluateConfig(out="/o", sampler=SamplerConfig(latent_steps=20, mode="ode"), reference=["/r.xtc"]),
    AnalyzeConfig(topology="/t.pdb", reference=["/r.xtc"], generated=["/g.dcd"], native="/n.pdb", out="/o",
                  settings=AnalysisSettings(n_bins=20, stride_ps=100.0)),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_every_run_config_goes_to_yaml_and_back(config, tmp_path):
    path = save_yaml(config, tmp_path / "config.yaml")
    assert load_yaml(type(config), path) == config
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "typo": 1}))
    with pytest.raises(ConfigError, match=r"config\.yaml: unknown .* setting\(s\) \['typo'\]"):
        load_yaml(type(config), path)


def test_renamed_keys_are_read_under_their_old_names(tmp_path):
    (tmp_path / "md.yaml").write_text(yaml.safe_dump({"pdb": "/p.pdb", "temperature": 300.0}))
    assert load_yaml(MDConfig, tmp_path / "md.yaml").temperature_K == 300.0
    assert load_yaml(MDConfig, tmp_path / "md.yaml", {"temperature_K": 310.0}).temperature_K == 310.0
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"interpolant": {"kind": "one_sided"}}))
    assert load_yaml(TrainConfig, tmp_path / "train.yaml").transport.kind == "one_sided"
    (tmp_path / "both.yaml").write_text(yaml.safe_dump({"interpolant": {}, "transport": {}}))
    with pytest.raises(ConfigError, match="'interpolant' and 'transport' name the same TrainConfig setting"):
        load_yaml(TrainConfig, tmp_path / "both.yaml")


def test_flags_override_the_config_they_come_with(tmp_path):
    save_yaml(CONFIGS[1], tmp_path / "simulate.yaml")
    config = simulate.parse_args(["--config", str(tmp_path / "simulate.yaml"), "--jumps", "9", "--temperature", "310"])
    assert (config.jumps, config.replicas, config.temperature_K) == (9, 2, 310.0)
    save_yaml(CONFIGS[2], tmp_path / "md.yaml")
    config, out = md.parse_args(["--config", str(tmp_path / "md.yaml"), "--out", "x", "--temperature-k", "320"])
    assert (config.ns, config.chains, config.temperature_K, out) == (2.0, ["A"], 320.0, "x")
    save_yaml(CONFIGS[3], tmp_path / "evaluate.yaml")
    config = evaluate.parse_args(["--config", str(tmp_path / "evaluate.yaml"), "--eps", "0.5"])
    assert (config.sampler.latent_steps, config.sampler.mode, config.sampler.eps) == (20, "ode", 0.5)
    save_yaml(CONFIGS[4], tmp_path / "analyze.yaml")
    config = analyze.parse_args(["--config", str(tmp_path / "analyze.yaml"), "--n-tics", "3"])
    assert (config.settings.n_bins, config.settings.stride_ps, config.settings.n_tics) == (20, 100.0, 3)
    config = analyze.parse_args(["--config", str(tmp_path / "analyze.yaml"), "--preset", "paper"])
    assert config.settings == AnalysisSettings.paper()
