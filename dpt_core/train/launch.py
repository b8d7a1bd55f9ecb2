"""Local multi-process training without torchrun: ``run_local`` spawns ``world_size`` CPU
processes (``torch.multiprocessing`` spawn, gloo), each running ``stage.train`` as one rank."""

from __future__ import annotations

import os
import socket

import torch.multiprocessing as mp

from dpt_core.train.stage import train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local_worker(rank: int, world_size: int, port: int, config, queue, stop_at) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    queue.put((rank, train(config, stop_at=stop_at)))


def run_local(config, world_size: int, stop_at: int | None = None) -> list:
    """Train with ``world_size`` local CPU processes (gloo); the ranks' ``TrainResult``s."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if config.device not in ("auto", "cpu"):
        raise ValueError("run_local trains on CPU; use torchrun for GPUs")
    config = config.model_copy(update={"device": "cpu"})
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.spawn(_local_worker, (world_size, _free_port(), config, queue, stop_at), nprocs=world_size)
    results = dict(queue.get() for _ in range(world_size))
    return [results[rank] for rank in range(world_size)]
