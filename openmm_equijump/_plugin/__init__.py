"""The compiled OpenMM plugin: libOpenMMEquiJump (integrator, libtorch jump kernel, XML serialization) and its
SWIG module, installed here by setup.py.

Importing this registers the jump kernel with every OpenMM Platform and the integrator with XmlSerializer.
"""
# libtorch and libOpenMM first: the plugin library links both, and must share the copies Python already uses.
import openmm  # noqa: F401
import torch  # noqa: F401

try:
    from .equijump import EquiJumpIntegrator, registerEquiJumpKernelFactories
except ImportError as error:
    raise ImportError(
        f"the openmm-equijump plugin is not built or does not load ({error}); build it with "
        "`pip install --no-build-isolation -e .` in the environment that has torch and openmm installed"
    ) from error

__all__ = ["EquiJumpIntegrator", "registerEquiJumpKernelFactories"]
