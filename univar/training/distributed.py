"""Several processes (torchrun, DistributedDataParallel): who this process is and how it joins.

One process and no torchrun is the plain case: rank 0 of a world of 1.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass
class Dist:
    world: int = 1
    rank: int = 0
    device: str = "cpu"

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch
        import torch.distributed as td

        t = torch.tensor([value], device=self.device)
        td.all_reduce(t)  # SUM: gloo has no AVG
        return float(t) / self.world


@contextlib.contextmanager
def distributed():
    """One process, or torchrun's process group (NCCL on GPUs, gloo on CPUs)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world == 1:
        yield Dist(1, 0, "cuda" if cuda else "cpu")
        return
    import torch.distributed as td

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    td.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield Dist(world, td.get_rank(), f"cuda:{local}" if cuda else "cpu")
    finally:
        td.destroy_process_group()
