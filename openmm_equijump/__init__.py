"""openmm-equijump: protein dynamics in OpenMM by learned 100 ps jumps (EquiJump).

>>> from openmm_equijump import EquiJumpIntegrator, load_model
>>> model = load_model("chignolin", topology=pdb.topology)
>>> simulation = Simulation(pdb.topology, system, EquiJumpIntegrator(model))

Importing the package loads its OpenMM plugin (the integrator's kernels for every platform).
"""
from .integrator import EquiJumpIntegrator
from .models import available_models, load_model

__all__ = ["EquiJumpIntegrator", "load_model", "available_models"]
