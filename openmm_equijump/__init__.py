"""openmm-equijump: protein dynamics in OpenMM by learned 100 ps jumps (EquiJump).

>>> from openmm_equijump import EquiJumpIntegrator, load_model
>>> model = load_model("chignolin", topology=pdb.topology)
>>> simulation = Simulation(pdb.topology, system, EquiJumpIntegrator(model))

The compiled OpenMM plugin is loaded on first use of ``EquiJumpIntegrator`` (or ``load_model``), so the
analysis, training and reference-MD modules import where the plugin is not built.
"""
__all__ = ["EquiJumpIntegrator", "load_model", "available_models"]


def __getattr__(name: str):
    if name == "EquiJumpIntegrator":
        from .integrator import EquiJumpIntegrator
        return EquiJumpIntegrator
    if name in ("load_model", "available_models"):
        from . import models
        return getattr(models, name)
    raise AttributeError(f"module 'openmm_equijump' has no attribute {name!r}")
