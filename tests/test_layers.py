"""The layers import one way (README, "Layout"): each is imported in a fresh interpreter, and what it loaded is
checked against what it must not load."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
P = "openmm_equijump"
TRAINING, PIPELINE, ANALYSIS, PLUGIN = f"{P}.training", f"{P}.training.data", f"{P}.analysis", f"{P}._plugin"
MODEL, RUNTIME, JOBS, CLI = f"{P}.model", f"{P}.runtime", f"{P}.jobs", f"{P}.cli"

#: layer (a module to import) -> modules it must not load (a name forbids its submodules too).
FORBIDDEN = {
    P: ["torch", "openmm", "mdtraj", PLUGIN, MODEL, RUNTIME, TRAINING, ANALYSIS],
    f"{P}.protein.vocabulary": ["torch", "openmm"],
    f"{P}.protein.covalent": ["mdtraj", MODEL, RUNTIME, TRAINING, ANALYSIS, PLUGIN],
    f"{P}.model.nn": ["openmm", "mdtraj", f"{P}.protein", f"{P}.model.transports", TRAINING, RUNTIME, PLUGIN],
    f"{P}.model.sampler": ["openmm", "mdtraj", f"{P}.protein.topology", TRAINING, RUNTIME, ANALYSIS, PLUGIN],
    f"{P}.model.checkpoint": ["openmm", "mdtraj", TRAINING, RUNTIME, ANALYSIS, PLUGIN],
    f"{P}.runtime.load": ["mdtraj", "deeptime", TRAINING, ANALYSIS, JOBS, PLUGIN],
    f"{P}.runtime.replicas": ["mdtraj", TRAINING, ANALYSIS, PLUGIN],
    f"{P}.runtime.integrator": ["mdtraj", "deeptime", TRAINING, ANALYSIS, JOBS],
    f"{P}.training.loop": [PLUGIN, RUNTIME, JOBS, CLI],
    f"{P}.analysis.run": ["e3nn", MODEL, RUNTIME, TRAINING, JOBS, PLUGIN],
    f"{P}.md": ["torch", "mdtraj", MODEL, RUNTIME, TRAINING, ANALYSIS, PLUGIN],
    f"{P}.md.campaign": ["torch", "mdtraj", MODEL, RUNTIME, TRAINING, ANALYSIS, PLUGIN],
    f"{P}.analysis.kinetics": ["e3nn", MODEL, RUNTIME, TRAINING, f"{P}.md", JOBS, PLUGIN],
    f"{P}.cli.kinetics": ["e3nn", MODEL, RUNTIME, TRAINING, PLUGIN],
    f"{P}.jobs.evaluate": [TRAINING, PLUGIN],
    f"{P}.cli.analyze": ["e3nn", MODEL, RUNTIME, TRAINING, PLUGIN],
    f"{P}.analysis.tps_run": ["e3nn", MODEL, RUNTIME, TRAINING, JOBS, PLUGIN],
    f"{P}.cli.interpolate": [TRAINING, PLUGIN],
    f"{P}.cli.train": [PLUGIN, RUNTIME, JOBS],
}


def loaded_modules(module: str) -> list[str]:
    """The modules a fresh interpreter holds after ``import module``."""
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_loads_nothing_it_must_not(layer):
    loaded = loaded_modules(layer)
    wrong = sorted({forbidden for name in loaded for forbidden in FORBIDDEN[layer]
                    if name == forbidden or name.startswith(forbidden + ".")})
    assert not wrong, f"importing {layer} loads {wrong}"


def test_analysis_and_training_import_without_the_compiled_plugin():
    """A build whose C++ plugin failed still trains and analyses: the plugin is shadowed by one that raises."""
    code = ("import importlib.machinery, sys\n"
            "class Refuse(importlib.machinery.PathFinder):\n"
            "    @classmethod\n"
            "    def find_spec(cls, name, path=None, target=None):\n"
            f"        if name == {PLUGIN!r}: raise ImportError('no plugin in this build')\n"
            "        return None\n"
            "sys.meta_path.insert(0, Refuse)\n"
            f"import {ANALYSIS}, {TRAINING}.loop, {P}.cli.train, {P}.cli.analyze\n"
            f"from {P} import load_model\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_package_gives_the_integrator_on_first_use():
    code = (f"import sys, {P}; assert {PLUGIN!r} not in sys.modules; "
            f"from {P} import EquiJumpIntegrator; assert {PLUGIN!r} in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
