"""Binding a transition to one topology and exporting it as the jump module (the Python <-> C++ contract).

A *transition* is any scriptable ``nn.Module`` with
``forward(P (R, N, 3) A, V (R, N, 13, 3) A, S (N,) int64, mask (N, 13) bool, seeds: List[int] (R,)) -> (P', V')``
in which replica r's randomness comes from seeds[r] alone.
The jump module wraps it: positions (R, n_atoms, 3) float32 nm -> tensor cloud -> transition -> positions,
then rebuilds hydrogens, OXT and caps, and copies every other particle unchanged. The serialized format
(TorchScript today, deprecated upstream) is chosen only here: ``export_jump_module``, ``save_jump_module``,
``jump_module_bytes`` and ``load_jump_module`` are the only functions that know it.
"""

import contextlib
import io
import math
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from openmm.app import Topology
from torch import nn

from ..model.checkpoint import verify_archive
from ..protein.covalent import CovalentProjection
from ..protein.hydrogens import HydrogenBuilder
from ..protein.tensorcloud import TensorCloudMap
from ..protein.topology import ProteinBinding, bind_topology
from .compiled import check_cpu

#: Version of the jump-module contract (attributes and forward signature) read by the C++ plugin.
FORMAT_VERSION = 1
#: The contract of a jump module that carries a state Tensor (first dimension: replicas) from jump to jump:
#: ``forward(positions, state, seed) -> (positions, state)`` and ``init_state(positions, seed) -> state`` for
#: the plugin (R = 1), ``jump_replicas(positions, state, seeds)`` and ``init_replicas(positions, seeds)`` for
#: batches (replica r as the plugin with ``seeds[r]``). The plugin keeps the state per Context, in checkpoints
#: and States, and initializes it again when the positions are not those its last jump wrote.
STATEFUL_FORMAT_VERSION = 2
#: A residue's N or C farther than this (A) from its C-alpha: positions in another atom order, or a structure
#: torn apart (the bonds are 1.46 and 1.52 A). Far above what any jump of a working model leaves, even an
#: untrained one without the covalent projection (about 4 A), so that only such input is refused.
MAX_BACKBONE_BOND_A = 8.0


def is_stateful(module) -> bool:
    """Whether a jump module carries a state from jump to jump (format_version 2)."""
    return int(getattr(module, "format_version", FORMAT_VERSION)) == STATEFUL_FORMAT_VERSION


@contextlib.contextmanager
def _format_warnings_silenced():
    """TorchScript warns that it is deprecated on every use; the choice is made and contained in this module."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


class _BoundTransition(nn.Module):
    """What every jump module holds: the contract's attributes and buffers, the map between positions and the
    tensor cloud, the covalent projection and the hydrogen builder of one topology, and the transition."""

    format_version: int
    jump_ps: float
    kinetic: bool
    n_atoms: int
    temperature_K: float
    settings: Dict[str, float]
    max_backbone_bond_A: float

    def __init__(self, transition: nn.Module, binding: ProteinBinding, jump_ps: float, temperature_K: float,
                 settings: Dict[str, float], projection: CovalentProjection, format_version: int, kinetic: bool):
        super().__init__()
        self.format_version = format_version
        self.jump_ps = float(jump_ps)
        self.kinetic = bool(kinetic)
        self.n_atoms = int(binding.n_atoms)
        self.temperature_K = float(temperature_K)
        self.settings = {str(k): float(v) for k, v in settings.items()}
        self.cloud = TensorCloudMap(binding)
        self.residue_labels: List[str] = list(binding.residue_labels)
        self.max_backbone_bond_A = MAX_BACKBONE_BOND_A
        self.transition = transition
        self.projection = projection
        self.hydrogens = HydrogenBuilder(binding)
        self.register_buffer("atomic_numbers", torch.as_tensor(binding.atomic_numbers, dtype=torch.int64))
        self.register_buffer("group_index", torch.as_tensor(binding.group_index, dtype=torch.int64))
        self.register_buffer("expected_group_mass",
                             torch.as_tensor(binding.expected_group_mass, dtype=torch.float64))

    def checked_cloud(self, positions: torch.Tensor, seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The tensor cloud (P, V) of positions (R, n_atoms, 3) nm, after checking the shape, the seeds and the
        atom order: every residue's N and C within ``MAX_BACKBONE_BOND_A`` of its C-alpha."""
        if positions.dim() != 3 or positions.shape[1] != self.n_atoms or positions.shape[2] != 3:
            raise RuntimeError("jump module: expected positions of shape (R, " + str(self.n_atoms)
                               + ", 3) in nm, got " + str(positions.shape))
        if len(seeds) != positions.shape[0]:
            raise RuntimeError("jump module: got " + str(len(seeds)) + " seeds for " + str(positions.shape[0])
                               + " replicas; give one seed per replica")
        P, V = self.cloud.to_cloud(positions)
        # N and C are slots 0 and 1 of every residue (HEAVY_ATOM_ORDER): bonded to the C-alpha at ~1.5 A in any
        # structure a jump may see, several A away when the positions follow another atom order
        bond = torch.linalg.vector_norm(V[:, :, :2].to(torch.float64), dim=-1).amax(dim=2)
        if bool((bond > self.max_backbone_bond_A).any()):
            first = torch.nonzero(bond > self.max_backbone_bond_A)[0]
            r, residue = int(first[0]), int(first[1])
            tenths = int(float(bond[r, residue]) * 10.0 + 0.5)
            raise RuntimeError("jump module: replica " + str(r) + ", residue " + self.residue_labels[residue]
                               + ": its N or C is " + str(tenths // 10) + "." + str(tenths % 10)
                               + " A from its C-alpha (bonded at 1.5 A): the positions do not follow the "
                               + "Topology's atom order (or the structure is broken); give them in the order of "
                               + "the Topology the module was exported for, in nm")
        return P, V

    def positions(self, positions: torch.Tensor, P: torch.Tensor, P1: torch.Tensor, V1: torch.Tensor
                  ) -> torch.Tensor:
        """The new System positions (input dtype): (P1, V1) projected onto the covalent geometry (trans peptides
        judged at the anchors P), then hydrogens, OXT and caps rebuilt, all else copied."""
        P1, V1 = self.projection(P, P1, V1)
        before = positions.to(torch.float64)
        moved = self.cloud.to_positions(P1, V1, before)
        return self.hydrogens(before, moved).to(positions.dtype)


class JumpModule(_BoundTransition):
    """positions (R, n_atoms, 3) nm, seed -> positions (R, n_atoms, 3) nm one jump later, in the input dtype.

    ``forward(positions, seed)`` is what the C++ plugin calls (R = 1); it gives replica r the seed ``seed ^ r``.
    ``jump_replicas(positions, seeds)`` takes one seed per replica: replica r's jump is then the jump
    ``forward(positions[r:r+1], seeds[r])`` makes (to float round-off), whatever the other replicas are.

    Attributes of the contract: format_version, jump_ps, kinetic (True: a step is jump_ps of time), n_atoms,
    temperature_K, settings, and buffers atomic_numbers (n_atoms,) int64, group_index (n_atoms,) int64,
    expected_group_mass (n_atoms,) float64 amu.
    """

    def forward(self, positions: torch.Tensor, seed: int) -> torch.Tensor:
        return self.jump_replicas(positions, [seed ^ r for r in range(positions.shape[0])])

    @torch.jit.export
    def jump_replicas(self, positions: torch.Tensor, seeds: List[int]) -> torch.Tensor:
        P, V = self.checked_cloud(positions, seeds)
        P1, V1 = self.transition(P, V, self.cloud.residue_types, self.cloud.mask, seeds)
        return self.positions(positions, P, P1, V1)


class StatefulJumpModule(_BoundTransition):
    """A jump module that carries a state (format_version 2; ``STATEFUL_FORMAT_VERSION``) around a stateful
    transition: ``init(P, V, S, mask, seeds) -> state``, ``forward(P, V, S, mask, state, seeds) -> (P', V',
    state')`` and ``isomer_anchors(P, state) -> P0``, the C-alphas at which the projection judges peptides cis or
    trans (the jump's start P for a jump in time; a walk-jump chain's start structure, ``model.walk``) (e.g.
    ``model.walk.WalkJumpSampler``). Replica r of ``init_replicas`` / ``jump_replicas`` is the
    plugin's call with seed ``seeds[r]``; the plugin's ``forward`` / ``init_state`` give replica r ``seed ^ r``.
    """

    def forward(self, positions: torch.Tensor, state: torch.Tensor, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.jump_replicas(positions, state, [seed ^ r for r in range(positions.shape[0])])

    @torch.jit.export
    def init_state(self, positions: torch.Tensor, seed: int) -> torch.Tensor:
        return self.init_replicas(positions, [seed ^ r for r in range(positions.shape[0])])

    @torch.jit.export
    def init_replicas(self, positions: torch.Tensor, seeds: List[int]) -> torch.Tensor:
        P, V = self.checked_cloud(positions, seeds)
        return self.transition.init(P, V, self.cloud.residue_types, self.cloud.mask, seeds)

    @torch.jit.export
    def jump_replicas(self, positions: torch.Tensor, state: torch.Tensor,
                      seeds: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        P, V = self.checked_cloud(positions, seeds)
        isomers = self.transition.isomer_anchors(P, state)
        P1, V1, state = self.transition(P, V, self.cloud.residue_types, self.cloud.mask, state, seeds)
        return self.positions(positions, isomers, P1, V1), state


def export_jump_module(transition: nn.Module, topology: Topology, **kwargs) -> torch.jit.ScriptModule:
    """``bind_transition``, scripted: the jump module the C++ plugin and ``runtime.replicas`` run."""
    with _format_warnings_silenced():
        return torch.jit.script(bind_transition(transition, topology, **kwargs))


def bind_transition(transition: nn.Module, topology: Topology, *, jump_ps: float, temperature_K: float,
                    settings: Optional[Mapping[str, float]] = None,
                    covalent_geometry: Optional[Mapping[str, float]] = None, projection_iterations: int = 0,
                    non_protein: str = "error", kinetic: bool = True) -> _BoundTransition:
    """Bind ``transition`` to ``topology``: the jump module before scripting (a ``StatefulJumpModule`` when the
    transition is stateful, i.e. has the class attribute ``stateful = True``, else a ``JumpModule``); it runs
    in Python as it will scripted (a transition can be debugged there).

    jump_ps: the jump interval (ps) the transition was trained for; temperature_K: its training temperature;
    settings: sampler settings recorded in the module (latent steps, eps, noise scales); covalent_geometry,
    projection_iterations: the projection after each jump (``protein.covalent.CovalentProjection``; none without a
    geometry or with 0 iterations); non_protein: see ``protein.topology.bind_topology``; kinetic: whether a step
    is ``jump_ps`` of time (False for samplers of an ensemble, whose step count is a sample index). Raises
    ``protein.topology.TopologyError`` for residues, atoms or molecules that cannot be bound, ValueError for bad
    parameters.
    """
    if not isinstance(transition, nn.Module):
        raise ValueError(f"transition must be a scriptable torch.nn.Module, got {type(transition).__name__}")
    for name, value in (("jump_ps", jump_ps), ("temperature_K", temperature_K)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    settings = dict(settings or {})
    for key, value in settings.items():
        if not isinstance(key, str) or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"settings must map str to float; entry {key!r}: {value!r} is not")
    binding = bind_topology(topology, non_protein=non_protein)
    if not covalent_geometry:
        projection_iterations = 0
    projection = CovalentProjection(binding, covalent_geometry or {}, projection_iterations)
    if projection_iterations and projection.unreferenced:
        warnings.warn(f"the model's training data has no covalent geometry for {len(projection.unreferenced)} "
                      f"pair type(s) of this topology (e.g. {projection.unreferenced[0]!r}); the projection after "
                      "each jump leaves them free", stacklevel=2)
    settings.update(projection_iterations=float(projection_iterations))
    with _format_warnings_silenced():
        # scripted already: its hundreds of sweeps per jump take ~1.5x as long in Python (unscripted modules)
        projection = torch.jit.script(projection)
    if getattr(transition, "stateful", False):
        return StatefulJumpModule(transition, binding, jump_ps, temperature_K, settings, projection,
                                  STATEFUL_FORMAT_VERSION, kinetic)
    return JumpModule(transition, binding, jump_ps, temperature_K, settings, projection, FORMAT_VERSION, kinetic)


def save_jump_module(module: torch.jit.ScriptModule, path: Union[str, Path]) -> None:
    """Write an exported jump module to ``path``."""
    with _format_warnings_silenced():
        torch.jit.save(module, str(path))


def jump_module_bytes(module: torch.jit.ScriptModule) -> bytes:
    """The serialized jump module as bytes (what a serialized integrator embeds)."""
    buffer = io.BytesIO()
    with _format_warnings_silenced():
        torch.jit.save(module, buffer)
    return buffer.getvalue()


def load_jump_module(source: Union[str, Path, bytes], map_location: str = "cpu",
                     what: Optional[str] = None) -> torch.jit.ScriptModule:
    """Read a jump module from a file path or from bytes (``what`` names them in errors); a damaged one is
    refused (``verify_archive``)."""
    try:
        from .. import _plugin  # noqa: F401 (defines torch.classes.equijump.CompiledPackage, in compiled modules)
    except ImportError:
        pass  # a scripted module loads without it; a compiled one then fails to load, naming the class
    fix = "export it again (save_jump_module)"
    if isinstance(source, (bytes, bytearray)):
        what = what or f"jump module ({len(source)} bytes)"
        verify_archive(bytes(source), what, fix)
        source = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"jump module file not found: {path}")
        what = what or f"jump module file {path}"
        verify_archive(path, what, fix)
        source = str(path)
    with _format_warnings_silenced():
        module = torch.jit.load(source, map_location=map_location)
    check_cpu(module, what)
    return module
