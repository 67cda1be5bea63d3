"""Readouts: per-atom energy contributions from the scalar (rank-0, true) channels."""

import math
from typing import Sequence

import torch
from torch import nn

from .radial import MLP

__all__ = ["LinearReadout", "MLPReadout"]


class LinearReadout(nn.Module):
    """``ε_i = w · h_i^{(0)} / sqrt(C)``: ``[N, C, dim]`` → ``[N]``. Scalars are the first component."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_channels, dtype=torch.float64))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h[:, :, 0] @ self.weight / math.sqrt(self.weight.shape[0])


class MLPReadout(nn.Module):
    """Bias-free MLP ``C → hidden… → 1`` on the scalars of the last layer: ``[N, C, dim]`` → ``[N]``."""

    def __init__(self, num_channels: int, hidden: Sequence[int]):
        super().__init__()
        self.mlp = MLP([num_channels, *hidden, 1])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h[:, :, 0]).squeeze(-1)
