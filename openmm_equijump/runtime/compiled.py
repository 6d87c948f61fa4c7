"""The EquiJump network compiled ahead of time (torch.export + AOTInductor) for jumps run from Python.

``CompiledNetwork`` stands in for an ``EquiJumpModel`` in ``JumpSampler``: its ``condition`` and
``run_headers`` are AOTInductor packages (.pt2, a shared library with the weights), the transport is the
model's, so the sampler's own loop, noise and schedule run unchanged around them. A package is built for one
residue count N (any number of replicas: the batch dimension is dynamic) on the first call that needs it, and
kept in ``cache_dir`` under a key of what it compiles: the weights, the sources of ``openmm_equijump.model``, the
torch and e3nn versions, the input shapes but the batch, and the CPU's vector instruction set (a package is
native code for one kind of CPU). Compiling takes minutes of one core; a cached package loads in a second.

Python only: the module is not TorchScript, so the C++ plugin cannot run it (``runtime.replicas`` can).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import e3nn
import torch
from torch import nn

from ..model.network import EquiJumpModel

#: The sources of the exported graphs (part of a package's cache key).
MODEL_SOURCES = Path(__file__).resolve().parents[1] / "model"
#: Replicas a package accepts (the batch dimension's range in torch.export).
MAX_REPLICAS = 4096


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/openmm_equijump/aoti (~/.cache/... without it): packages are native code of this machine."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "openmm_equijump" / "aoti"


class _Condition(nn.Module):
    def __init__(self, model: EquiJumpModel):
        super().__init__()
        self.model = model

    def forward(self, P0, V0, S, mask, residue_mask):
        return self.model.condition(P0, V0, S, mask, residue_mask)


class _Headers(nn.Module):
    def __init__(self, model: EquiJumpModel):
        super().__init__()
        self.model = model

    def forward(self, h, P0, V0, P_tau, V_tau, tau, mask, residue_mask):
        return self.model.run_headers(h, P0, V0, P_tau, V_tau, tau, mask, residue_mask)


def _weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cpu_isa() -> str:
    # imported here: Inductor takes seconds to import, and the runtime imports this module for every jump module
    from torch._inductor.cpu_vec_isa import pick_vec_isa
    return str(pick_vec_isa())


def _source_digest() -> str:
    """The code that defines the exported graphs: the model package's sources and the versions of torch and e3nn."""
    digest = hashlib.sha256(f"{torch.__version__} {e3nn.__version__}".encode())
    for source in sorted(MODEL_SOURCES.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def compile_package(module: nn.Module, args: Tuple[torch.Tensor, ...], path: Path) -> Callable:
    """``module`` exported with a dynamic first (batch) dimension on every argument and compiled by AOTInductor
    into ``path`` (.pt2) unless it is there, then loaded."""
    if not path.is_file():
        replicas = torch.export.Dim("replicas", min=1, max=MAX_REPLICAS)
        with torch.no_grad():
            program = torch.export.export(module, args, dynamic_shapes=[{0: replicas}] * len(args))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.pt2")
        # written aside and renamed: a concurrent or interrupted compile never leaves a half package behind
        torch._inductor.aoti_compile_and_package(program, package_path=str(partial))
        partial.replace(path)
    return torch._inductor.aoti_load_package(str(path))


class CompiledNetwork(nn.Module):
    """An ``EquiJumpModel``'s condition and run_headers (same signatures, shapes and outputs) as AOTInductor
    packages built lazily per residue count; ``transport`` and ``transport_config`` are the model's."""

    def __init__(self, model: EquiJumpModel, cache_dir: Optional[Union[str, Path]] = None):
        super().__init__()
        self.model = model.eval()
        self.transport = model.transport
        self.transport_config = model.transport_config
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._key = "\n".join((_weights_digest(model), _source_digest(), _cpu_isa()))
        self._packages: Dict[Tuple[str, int], Callable] = {}

    def _package(self, wrapper: type, args: Tuple[torch.Tensor, ...]) -> Callable:
        key = (wrapper.__name__, args[0].shape[1])
        if key not in self._packages:
            # the batch dimension is exported from a batch of 2: torch.export specializes a size of 1
            example = tuple(a[:1].expand(2, *a.shape[1:]).contiguous() for a in args)
            shapes = str([(tuple(a.shape[1:]), a.dtype) for a in args])
            name = hashlib.sha256(f"{self._key}\n{wrapper.__name__}\n{shapes}".encode()).hexdigest()[:24]
            path = self.cache_dir / f"{wrapper.__name__.strip('_').lower()}-{name}.pt2"
            self._packages[key] = compile_package(wrapper(self.model), example, path)
        return self._packages[key]

    def condition(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor) -> torch.Tensor:
        """As ``EquiJumpModel.condition``: (B, N, 4H)."""
        args = (P0, V0, S.contiguous(), mask.contiguous(), residue_mask)
        return self._package(_Condition, args)(*args)

    def run_headers(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor,
                    V_tau: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor,
                    residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """As ``EquiJumpModel.run_headers``: the headers' outputs by name."""
        args = (h, P0, V0, P_tau, V_tau, tau, mask.contiguous(), residue_mask)
        return self._package(_Headers, args)(*args)
