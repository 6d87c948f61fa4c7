"""The EquiJump network compiled ahead of time (torch.export + AOTInductor), inside a TorchScript jump module.

``CompiledNetwork`` stands in for an ``EquiJumpModel`` in ``JumpSampler``: its ``condition`` and ``run_headers``
call AOTInductor packages (.pt2: native code with the weights) through ``torch.classes.equijump.CompiledPackage``,
a class of the plugin library, while the transport is the model's. The sampler's loop, noise and schedule stay
TorchScript, so the jump module is scripted and saved as usual and runs wherever the plugin's library is
loaded: in the C++ plugin (``EquiJumpIntegrator``) and in Python (``runtime.replicas``). The packages are built
for one protein's residues when the network is made (the batch dimension is dynamic: any number of replicas)
and kept in ``cache_dir`` under a key of what they compile: the weights, the sources of
``openmm_equijump.model``, the torch and e3nn versions, the compile options, the shapes (the residue count) and
the CPU's vector instruction set (a package is native code for one kind of CPU, and so is a jump module that holds
packages: ``check_cpu`` refuses one made for another kind). The packages take CPU float32 positions only. Compiling takes
minutes of one core; a cached package loads in a second. The compiled kernels use as many OpenMP threads as
the process is set to at run time (``torch.set_num_threads``, the plugin's ``Threads``).
"""

import hashlib
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import e3nn
import torch
from torch import nn

from ..model.network import EquiJumpModel

#: The sources of the exported graphs (part of a package's cache key).
MODEL_SOURCES = Path(__file__).resolve().parents[1] / "model"
#: Replicas a package accepts (the batch dimension's range in torch.export).
MAX_REPLICAS = 4096
#: AOTInductor settings (part of the cache key). Dynamic threads: the kernels ask OpenMP for the thread count
#: when they run; otherwise Inductor fixes the count the compiling process had (a package compiled on one thread
#: would stay on one, one compiled on all cores would spin beside a busy neighbour).
COMPILE_OPTIONS = {"cpp.dynamic_threads": True}


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


def compile_package(module: nn.Module, args: Tuple[torch.Tensor, ...], path: Path) -> Path:
    """``module`` exported with a dynamic first (batch) dimension on every argument and compiled by AOTInductor
    into ``path`` (.pt2), unless it is there."""
    if not path.is_file():
        replicas = torch.export.Dim("replicas", min=1, max=MAX_REPLICAS)
        with torch.no_grad():
            program = torch.export.export(module, args, dynamic_shapes=[{0: replicas}] * len(args))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.pt2")
        # written aside and renamed: a concurrent or failed compile never leaves a half package behind
        try:
            torch._inductor.aoti_compile_and_package(program, package_path=str(partial),
                                                     inductor_configs=dict(COMPILE_OPTIONS))
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return path


class CompiledNetwork(nn.Module):
    """An ``EquiJumpModel``'s condition and run_headers (same signatures, shapes and outputs) as AOTInductor
    packages for the N residues of ``residue_types`` (N,) int64 and ``mask`` (N, 13) bool (a
    ``protein.topology.ProteinBinding``'s); ``transport`` and ``transport_config`` are the model's. Scriptable."""

    header_names: List[str]
    cpu_isa: str

    def __init__(self, model: EquiJumpModel, residue_types: torch.Tensor, mask: torch.Tensor,
                 cache_dir: Optional[Union[str, Path]] = None):
        super().__init__()
        from .. import _plugin  # noqa: F401 (the plugin library defines torch.classes.equijump.CompiledPackage)

        model = model.eval()
        self.transport = model.transport
        self.transport_config = model.transport_config
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cpu_isa = _cpu_isa()
        key = "\n".join((_weights_digest(model), _source_digest(), self.cpu_isa, str(sorted(COMPILE_OPTIONS.items())),
                         str(tuple(mask.shape))))
        condition_args, header_args = _example_inputs(model, residue_types, mask)
        self.condition_package = torch.classes.equijump.CompiledPackage(
            str(compile_package(_Condition(model), condition_args, _package_path(cache_dir, "condition", key))))
        self.headers_package = torch.classes.equijump.CompiledPackage(
            str(compile_package(_Headers(model), header_args, _package_path(cache_dir, "headers", key))))
        with torch.no_grad():
            # the order of the outputs in the package: the exported dict's (torch.export flattens it in order)
            self.header_names = list(model.run_headers(*header_args).keys())

    def condition(self, P0: torch.Tensor, V0: torch.Tensor, S: torch.Tensor, mask: torch.Tensor,
                  residue_mask: torch.Tensor) -> torch.Tensor:
        """As ``EquiJumpModel.condition``: (B, N, 4H)."""
        if P0.device.type != "cpu" or P0.dtype != torch.float32:
            # the packages do not check their inputs: anything else would be undefined behaviour
            raise RuntimeError("a compiled jump module runs on the CPU with float32 positions, got "
                               + str(P0.dtype) + " on " + str(P0.device) + ": use device='cpu', or a module "
                               "loaded without compiled=True")
        return self.condition_package.run([P0.contiguous(), V0.contiguous(), S.contiguous(), mask.contiguous(),
                                           residue_mask.contiguous()])[0]

    def run_headers(self, h: torch.Tensor, P0: torch.Tensor, V0: torch.Tensor, P_tau: torch.Tensor,
                    V_tau: torch.Tensor, tau: torch.Tensor, mask: torch.Tensor,
                    residue_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """As ``EquiJumpModel.run_headers``: the headers' outputs by name."""
        outputs = self.headers_package.run([h.contiguous(), P0.contiguous(), V0.contiguous(), P_tau.contiguous(),
                                            V_tau.contiguous(), tau.contiguous(), mask.contiguous(),
                                            residue_mask.contiguous()])
        named: Dict[str, torch.Tensor] = {}
        for i, name in enumerate(self.header_names):
            named[name] = outputs[i]
        return named


def check_cpu(module: torch.nn.Module, what: str) -> None:
    """Refuse a jump module whose compiled packages were built for another kind of CPU (their native code could
    stop the process with an illegal instruction)."""
    for submodule in module.modules():
        isa = getattr(submodule, "cpu_isa", None)
        if isinstance(isa, str) and isa != _cpu_isa():
            raise RuntimeError(f"{what} holds a network compiled for {isa} CPUs; this CPU is {_cpu_isa()}: load the "
                               "model again with load_model(..., compiled=True) on this machine")


def _package_path(cache_dir: Path, what: str, key: str) -> Path:
    digest = hashlib.sha256(f"{key}\n{what}".encode()).hexdigest()[:24]
    return cache_dir / f"{what}-{digest}.pt2"


def _example_inputs(model: EquiJumpModel, residue_types: torch.Tensor, mask: torch.Tensor
                    ) -> Tuple[Tuple[torch.Tensor, ...], Tuple[torch.Tensor, ...]]:
    """Arguments of condition and run_headers for 2 replicas of the protein (torch.export specializes a batch of
    1), at random positions: the graphs depend on the shapes, not on the values."""
    generator = torch.Generator().manual_seed(0)
    N = residue_types.shape[0]
    S = residue_types.to(torch.int64)[None].expand(2, N).contiguous()
    atom_mask = mask.to(torch.bool)[None].expand(2, N, mask.shape[-1]).contiguous()
    residue_mask = torch.ones(2, N, dtype=torch.bool)
    # a chain of C-alphas 3.8 A apart, atoms within 2 A of theirs (A)
    P0 = torch.randn(2, N, 3, generator=generator) + 3.8 * torch.arange(N, dtype=torch.float32)[None, :, None]
    V0 = 2.0 * torch.randn(2, N, mask.shape[-1], 3, generator=generator) * atom_mask[..., None]
    P_tau = P0 + torch.randn(2, N, 3, generator=generator)
    V_tau = V0 + torch.randn(2, N, mask.shape[-1], 3, generator=generator) * atom_mask[..., None]
    tau = torch.full([2], 0.5)
    with torch.no_grad():
        h = model.condition(P0, V0, S, atom_mask, residue_mask)
    return (P0, V0, S, atom_mask, residue_mask), (h, P0, V0, P_tau, V_tau, tau, atom_mask, residue_mask)
