"""Training on several processes (``torch.distributed``, DistributedDataParallel), launched by torchrun:

    torchrun --nproc_per_node N -m openmm_equijump.train ...    (several nodes: torchrun's rendezvous flags)

torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) starts the process group:
NCCL when the run is on CUDA (process r on GPU LOCAL_RANK), gloo on the CPU. Without it (or with one process)
the run is the single-process run, unchanged: ``World()``, no process group, no DDP.

How N processes reproduce one process at the same ``batch_size`` (the global batch):
- Every process draws the same global batch indices from the same seeded data generator, assembles the global
  batch (coordinates only, read from the memory-mapped frame cache) and draws all of its noise (start noise
  and the transport's latent times and noise) from the same seeded loss generator, exactly as one process
  would; it then runs the network on its own rows only (``World.rows``), the cost of a step.
- Each process's loss is its rows' share of the whole batch's loss (``EquiJumpModel.loss(rows=...)``: masked
  sums over its rows divided by the whole batch's count of real coordinates), so the shares add up to the
  single-process loss whatever the proteins in each shard. DDP averages gradients over the N processes,
  hence each one backpropagates N times its share: the gradient is the single-process gradient up to the
  order of float summation. Gradient clipping follows the backward pass, where DDP has already reduced.
- Validation: each chunk of the fixed validation pairs is split over the processes the same way; the sums
  are gathered and rank 0 logs them.
- Rank 0 writes checkpoint.pt, config.yaml, losses.csv and the frame cache; every process reads the
  checkpoint on ``resume`` (generators included, so all continue in the same state). A stop signal to any
  process stops all of them after the same step (agreed every step).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..device import resolve_device
from ..errors import ConfigError
from ..model.batch import PairBatch
from ..model.network import EquiJumpModel

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; ``World()`` is a single-process run, where every
    collective below is the identity."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")  # where collectives put their tensors

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run's files and shows progress."""
        return self.rank == 0

    def rows(self, n: int) -> slice | None:
        """This process's rows of a batch of ``n`` pairs: consecutive, the first ``n % size`` processes one
        more; None (all rows) in a single-process run."""
        if not self.distributed:
            return None
        quotient, remainder = divmod(n, self.size)
        start = self.rank * quotient + min(self.rank, remainder)
        return slice(start, start + quotient + (self.rank < remainder))

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ConfigError(f"batch_size {batch_size} (the global batch) does not split evenly over the world "
                              f"size of {self.size} processes; choose a multiple of {self.size}")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the processes (a new tensor on ``values``' device)."""
        if not self.distributed:
            return values
        total = values.detach().to(self.device, copy=True)
        dist.all_reduce(total)
        return total.to(values.device)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any process (every process must ask)."""
        if not self.distributed:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=self.device)).item())

    def sum_dicts(self, values: dict[str, float]) -> dict[str, float]:
        """Per key, the sum over the processes of ``values`` (a process may lack keys: it adds nothing)."""
        if not self.distributed:
            return values
        gathered: list[dict[str, float]] = [{} for _ in range(self.size)]
        dist.all_gather_object(gathered, values)
        total: dict[str, float] = {}
        for part in gathered:
            for name, value in part.items():
                total[name] = total.get(name, 0.0) + value
        return total

    def from_main(self, compute: Callable[[], T]) -> T:
        """``compute()`` run on rank 0 only and its result sent to every process (so that all use the very
        same values, whatever their floating point)."""
        if not self.distributed:
            return compute()
        result = [compute() if self.is_main else None]
        dist.broadcast_object_list(result, src=0)
        return result[0]

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The block runs on rank 0 first and on the others once it is done (e.g. rank 0 writes a cache that
        the others then read)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


@contextlib.contextmanager
def training_world(device: str = "auto") -> Iterator[tuple[World, torch.device]]:
    """The process group of a torchrun launch (see the module docstring) and this process's device; a
    single-process ``World()`` and ``resolve_device(device)`` without torchrun. Destroys the group it made."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = resolve_device(device)
    if size == 1:
        yield World(), resolved
        return
    if resolved.type == "cuda":
        if resolved.index is not None:
            raise ConfigError(f"--device {device}: under torchrun every process takes the GPU of its LOCAL_RANK; "
                              "give --device cuda (or auto) and choose GPUs with CUDA_VISIBLE_DEVICES")
        resolved = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(resolved)
    made_here = not dist.is_initialized()
    if made_here:
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    try:
        yield World(dist.get_rank(), dist.get_world_size(), resolved), resolved
    finally:
        if made_here:
            dist.destroy_process_group()


class _RowsLoss(torch.nn.Module):
    """What DDP wraps (its forward must be the call whose backward it reduces): the model's loss share of
    this process's rows of a batch."""

    def __init__(self, model: EquiJumpModel):
        super().__init__()
        self.model = model

    def forward(self, batch: PairBatch, generator: torch.Generator, rows: slice) -> dict[str, torch.Tensor]:
        return self.model.loss(batch, generator, rows=rows)


class BatchLoss:
    """The training loss of a (global) batch as this process computes it (module docstring).

    Called with (batch, generator): returns (the tensor to backpropagate, the whole batch's losses by name).
    In a single-process run both are ``model.loss(batch, generator)``'s.
    """

    def __init__(self, model: EquiJumpModel, world: World = World()):
        self.model = model
        self.world = world
        self.ddp = None
        if world.distributed:
            self.ddp = DistributedDataParallel(_RowsLoss(model),
                                               device_ids=[world.device] if world.device.type == "cuda" else None)

    def __call__(self, batch: PairBatch, generator: torch.Generator
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.ddp is None:
            losses = self.model.loss(batch, generator)
            return losses["loss"], losses
        share = self.ddp(batch, generator, self.world.rows(batch.batch_size))
        names = sorted(share)
        totals = self.world.sum(torch.stack([share[name].detach() for name in names]))
        return share["loss"] * self.world.size, dict(zip(names, totals))
