"""Data-parallel training across processes (``torchrun``): one shared global batch, summed gradients.

Every process builds the same data set and model (same seed) and walks the
same batch order; process r takes structures ``r, r + W, ...`` of each global
batch. Because the loss is a sum over structures, summing the processes'
gradients gives exactly the single-process gradient up to float rounding, and
identical optimiser steps keep the copies identical. Only rank 0 writes files.
"""

import os
from typing import List, Sequence

import torch
import torch.distributed as dist

__all__ = ["Distributed"]


class Distributed:
    """The process group of this run, or a trivial one-process stand-in when not launched by torchrun."""

    def __init__(self, device: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None and self.world_size > 1:
            self.device = torch.device("cuda", local_rank)
        self.started_here = self.world_size > 1 and not dist.is_initialized()
        if self.started_here:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, indices: Sequence[int]) -> List[int]:
        """This process's part of a global batch."""
        return list(indices[self.rank :: self.world_size])

    def sum_gradients(self, parameters: Sequence[torch.Tensor]):
        if self.world_size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(parameters, grads):
            p.grad = flat[offset : offset + g.numel()].view_as(g).clone()
            offset += g.numel()

    def sum(self, values: Sequence[float]) -> List[float]:
        """Sum numbers over processes (float64)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def close(self):
        if self.started_here:
            # all processes leave together: one tearing down gloo while another still runs can abort it
            dist.barrier()
            dist.destroy_process_group()
