"""openmm-equijump: protein dynamics in OpenMM by learned 100 ps jumps (EquiJump).

>>> from openmm_equijump import EquiJumpIntegrator, load_model
>>> model = load_model("chignolin", topology=pdb.topology)
>>> simulation = Simulation(pdb.topology, system, EquiJumpIntegrator(model))

The layers (README, "Layout"): ``protein`` (names, binding, tensor cloud, rebuilt atoms, covalent projection),
``model`` (networks, transports, sampler, checkpoints), ``runtime`` (export, load, integrator, replicas),
``training``, ``md`` (reference MD), ``analysis``, ``jobs`` (what the commands do) and ``cli``.
``EquiJumpIntegrator`` loads the compiled plugin when it is first asked for, not on ``import openmm_equijump``.
"""
from importlib import import_module

from .errors import EquiJumpError

_LAZY = {"EquiJumpIntegrator": ".runtime.integrator", "load_model": ".runtime.load",
         "available_models": ".runtime.load"}

__all__ = ["EquiJumpError", "EquiJumpIntegrator", "available_models", "load_model"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
