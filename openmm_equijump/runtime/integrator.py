"""EquiJumpIntegrator: the Python face of the C++ plugin. Every ``step()`` is one learned jump.

>>> integrator = EquiJumpIntegrator("chignolin_jump.pt", temperature=350 * unit.kelvin, seed=1)
>>> simulation = Simulation(pdb.topology, system, integrator)
>>> simulation.step(500)            # 500 jumps; with jump_ps = 100, 50 ns of simulated time

The step size is the module's jump interval (ps): each step advances the Context's time by it and the step count
by one, so reporters, checkpoints and ``runForClockTime`` work unchanged. After each jump the velocities are
drawn at the integrator's temperature; they carry no information into the next jump (the jump reads positions
only), but give StateDataReporter's temperature and kinetic energy their usual meaning. Each jump's random seed
is a hash of the integrator's seed and the Context's step count, so a simulation restored from a checkpoint
continues exactly as it would have; so does one restored from a State into an integrator with seed 0, while an
integrator with an explicit seed keeps its own seed (launch N seeds from one saved State). Exact continuation
also needs the same platform and thread count: float32 sums in another order drift apart over tens of jumps.

The integrator never evaluates forces (the System's forces matter only to reporters that ask for energies),
does not apply position constraints (the jump module rebuilds hydrogens with exact bond lengths; velocity
constraints are applied to the drawn velocities) and leaves periodic boxes as they are. Velocities are drawn in
float32 from libtorch's CPU generator; massless particles get zero velocity.

A module that is not ``kinetic`` (a walk-jump chain: ``model.walk``) samples an ensemble, not time: each
step is one sample, the step size a nominal 1 ps per sample, and a DCD's "time" counts samples
(``EquiJumpIntegrator.kinetic`` says which). A stateful module (format_version 2) carries a state from step to
step (the walk's noisy positions and velocities), kept in checkpoints, States and the XML, and started afresh
when the user sets positions.

An integrator read back with ``XmlSerializer.deserialize`` (or ``Simulation(topology, system, "integ.xml")``)
is an ``openmm.Integrator`` that jumps; ``EquiJumpIntegrator.cast(integrator)`` gives its EquiJump methods.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Union

import torch
from openmm import unit

from ..errors import EquiJumpError
from ..model.checkpoint import CheckpointError
from .. import _plugin
from .export import is_stateful, jump_module_bytes, load_jump_module

JumpModuleSource = Union[torch.jit.ScriptModule, str, Path, bytes, bytearray]

#: Attributes of the jump-module contract that the integrator reads or the plugin checks.
REQUIRED_ATTRIBUTES = ("jump_ps", "n_atoms", "temperature_K", "atomic_numbers", "group_index",
                       "expected_group_mass")

_EXPORT_ADVICE = ("export the model bound to your topology with openmm_equijump.runtime.export.export_jump_module "
                  "(or load_model(..., topology=...))")


class JumpModuleError(EquiJumpError, ValueError):
    """A jump module that cannot be read or does not follow the contract."""


def _describe(source: JumpModuleSource) -> str:
    if isinstance(source, (str, Path)):
        return f"jump module file {str(source)!r}"
    if isinstance(source, (bytes, bytearray)):
        return f"jump module bytes ({len(source)} bytes)"
    return "jump module object"


def _read(source: JumpModuleSource) -> tuple[torch.jit.ScriptModule, bytes]:
    """(the module loaded on the CPU, its serialized bytes) from an object, a file path or bytes."""
    what = _describe(source)
    if isinstance(source, torch.jit.ScriptModule):
        return source, jump_module_bytes(source)
    if isinstance(source, torch.nn.Module):
        raise JumpModuleError(f"the jump module is a plain torch.nn.Module ({type(source).__name__}), not a "
                              f"scripted one; {_EXPORT_ADVICE}")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise JumpModuleError(f"{what}: no such file; {_EXPORT_ADVICE} and save it with save_jump_module")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        raise JumpModuleError(f"jump_module must be a torch.jit.ScriptModule, a file path or bytes, got "
                              f"{type(source).__name__}")
    try:
        module = load_jump_module(data, what=what)
    except CheckpointError as error:  # damaged or not an archive: its message names the file and the fix
        raise JumpModuleError(str(error)) from None
    except Exception as error:
        raise JumpModuleError(f"{what} is not a readable TorchScript module ({error}); {_EXPORT_ADVICE} and "
                              "save it with save_jump_module") from error
    return module, data


def _check_contract(module: torch.jit.ScriptModule, what: str) -> None:
    missing = [name for name in REQUIRED_ATTRIBUTES if not hasattr(module, name)]
    if missing:
        raise JumpModuleError(f"{what} lacks the jump-module attribute(s) {', '.join(missing)}: it is not a jump "
                              f"module; {_EXPORT_ADVICE}")
    try:
        schema = module.forward.schema
    except (AttributeError, RuntimeError) as error:
        raise JumpModuleError(f"{what} has no scripted forward(); {_EXPORT_ADVICE}") from error
    arguments = [str(argument.type) for argument in schema.arguments[1:]]
    returns = [str(value.type) for value in schema.returns]
    if is_stateful(module):
        if arguments != ["Tensor", "Tensor", "int"] or returns != ["Tuple[Tensor, Tensor]"] or not hasattr(
                module, "init_state"):
            raise JumpModuleError(
                f"{what} has format_version 2 (stateful) and forward({', '.join(arguments)}) -> "
                f"({', '.join(returns)}); a stateful jump module needs forward(positions, state: Tensor, seed: int) "
                f"-> (positions, state) and init_state(positions, seed: int) -> state")
    elif arguments != ["Tensor", "int"] or returns != ["Tensor"]:
        raise JumpModuleError(
            f"{what} has forward({', '.join(arguments)}) -> ({', '.join(returns)}); a jump module needs "
            f"forward(positions: Tensor[R, n_atoms, 3] nm, seed: int) -> Tensor[R, n_atoms, 3]; {_EXPORT_ADVICE}")
    if not (isinstance(module.jump_ps, float) and math.isfinite(module.jump_ps) and module.jump_ps > 0):
        raise JumpModuleError(f"{what} has jump_ps = {module.jump_ps!r}; it must be a positive float (ps)")


def _kelvin(temperature: Union[unit.Quantity, float], what: str) -> float:
    if unit.is_quantity(temperature):
        if not temperature.unit.is_compatible(unit.kelvin):
            raise ValueError(f"{what} must be a temperature, got {temperature}")
        temperature = temperature.value_in_unit(unit.kelvin)
    value = float(temperature)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{what} must be a finite temperature >= 0 K, got {value}")
    return value


class EquiJumpIntegrator(_plugin.EquiJumpIntegrator):
    """An OpenMM Integrator whose every step is one jump of a TorchScript jump module.

    Parameters
    ----------
    jump_module : torch.jit.ScriptModule, str, pathlib.Path or bytes
        The jump module bound to the System's topology (export.export_jump_module / load_model), as an object,
        a file written by save_jump_module, or its bytes. Its contract: forward(positions: Tensor[R, n_atoms, 3]
        float32 nm, seed: int) -> Tensor[R, n_atoms, 3] nm, with attributes jump_ps, n_atoms, temperature_K,
        atomic_numbers, group_index and expected_group_mass. The step size is its ``jump_ps`` (ps).
    temperature : openmm.unit.Quantity or float (K), optional
        Temperature of the velocities drawn after each jump; default the module's ``temperature_K``. A value
        different from the module's training temperature is allowed but warned about: the jumps themselves
        still sample the training temperature.
    seed : int
        Seed of the jumps and the velocities; 0 (the default) picks a random one per Context, which is then
        kept in checkpoints and States.
    device : str
        Where the module runs: "auto" (CUDA when libtorch sees a GPU, else CPU), "cpu", "cuda" or "cuda:<i>".
    threads : int
        CPU threads of libtorch during a jump (restored after it); 0 = libtorch's default, one per core. The
        default 1 is the fastest on a machine shared with busy processes (bench/bench_speed.py).

    The System is checked against the module when a Context is created: its particle count must be n_atoms,
    and the mass of each heavy atom with its bonded hydrogens must match (robust to hydrogen mass
    repartitioning); otherwise the Context raises openmm.OpenMMException naming the particle.
    """

    def __init__(self, jump_module: JumpModuleSource, temperature: Union[unit.Quantity, float, None] = None,
                 seed: int = 0, device: str = "auto", threads: int = 1):
        what = _describe(jump_module)
        module, data = _read(jump_module)
        _check_contract(module, what)
        model_temperature = _kelvin(module.temperature_K, f"{what}: temperature_K")
        if temperature is None:
            kelvin = model_temperature
        else:
            kelvin = _kelvin(temperature, "temperature")
            if not math.isclose(kelvin, model_temperature, rel_tol=0, abs_tol=1e-6):
                warnings.warn(f"EquiJumpIntegrator: temperature {kelvin:g} K differs from the {model_temperature:g} "
                              f"K the jump module was trained at; only the velocities drawn after each jump "
                              f"follow {kelvin:g} K, the jumps sample {model_temperature:g} K", stacklevel=2)
        if not isinstance(seed, int) or not -2**31 <= seed < 2**31:
            raise ValueError(f"seed must be a 32-bit int, got {seed!r}")
        if not isinstance(device, str):
            raise ValueError(f"device must be a str such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
        if not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = libtorch's default), got {threads!r}")
        super().__init__(data, float(module.jump_ps), kelvin, seed, device)
        self.setNumThreads(threads)
        # A sampler of an ensemble (walk-jump) has no time: its step is a sample, nominally jump_ps "ps".
        self.kinetic = bool(getattr(module, "kinetic", True))
