"""Multi-process training: torchrun / DistributedDataParallel, NCCL on GPU, gloo on CPU.

``init_distributed`` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``); without it the run is a single process (``launch.run_local``
starts CPU processes itself for machines without torchrun). Every rank builds the same models
from the seed and DDP broadcasts rank 0's weights; each rank reads its own slice of the data
(see ``dpt_core.train.order``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)
_CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: rank, world size, local rank, device, backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = _CPU
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; ValueError if a
    requested CUDA device is missing."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and (
        not torch.cuda.is_available() or device.index >= torch.cuda.device_count()
    ):
        raise ValueError(f"device: {name} requested but this machine has no such CUDA device")
    return device


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (or return a single-process context)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=torch_device)
    backend = "nccl" if torch_device.type == "cuda" else "gloo"
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    logger.info("rank %d/%d on %s (%s)", rank, world_size, torch_device, backend)
    return DistContext(rank, world_size, local_rank, torch_device, backend)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op for a single process)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``module`` in DistributedDataParallel when distributed, else as is."""
    if not ctx.distributed:
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def mean_across_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Per-key mean over ranks (as is for one process); every rank must pass the same keys."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return dict(zip(keys, (tensor / ctx.world_size).tolist(), strict=True))


def state_digest(module: nn.Module) -> str:
    """sha256 of every tensor in ``module.state_dict()`` (names, shapes, bytes)."""
    digest = hashlib.sha256()
    for name, tensor in unwrap(module).state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(
            tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def check_replicas(digests: dict[str, str], ctx: DistContext) -> None:
    """RuntimeError when the ranks' model digests differ (DDP replicas diverged)."""
    if not ctx.distributed:
        return
    gathered: list[dict[str, str] | None] = [None] * ctx.world_size
    dist.all_gather_object(gathered, digests)
    if any(other != gathered[0] for other in gathered):
        raise RuntimeError(f"DDP replicas diverged: digests per rank {gathered}")
