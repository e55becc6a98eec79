"""Data-parallel set-up for runs launched with ``torchrun`` (gloo on CPU, NCCL on CUDA)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else no-op."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_mean(value: float, info: DistInfo) -> float:
    """Mean of a scalar over ranks (for logging)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def shutdown(info: DistInfo) -> None:
    """Leave the process group, all ranks together: a rank that tears its gloo connections down
    while another still works beside them can abort that other rank at exit (seen in the 2-process
    test, now and then over many suite runs: rank 1 died of SIGABRT, "terminate called without an
    active exception", at the end of the run)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def ranks_identical(module: torch.nn.Module, info: DistInfo) -> bool:
    """True when every rank holds bit-identical parameters and buffers (a DDP sanity check)."""
    if not info.enabled:
        return True
    flat = torch.cat([t.detach().double().flatten().cpu() for t in module.state_dict().values()])
    local = torch.stack([flat.sum(), (flat * torch.arange(len(flat), dtype=torch.float64)).sum()])
    gathered = [torch.zeros_like(local) for _ in range(info.world_size)]
    dist.all_gather(gathered, local)
    return all(torch.equal(g, gathered[0]) for g in gathered)
