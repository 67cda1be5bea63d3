"""Exponential moving average (EMA) of the weights: used for validation, checkpoints and the final model."""

from typing import Sequence

import torch

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """Shadow copy of the parameters, ``s ← d·s + (1-d)·p`` after every step."""

    def __init__(self, parameters: Sequence[torch.nn.Parameter], decay: float):
        self.decay = decay
        self.shadow = [p.detach().clone() for p in parameters]

    @torch.no_grad()
    def update(self, parameters):
        for s, p in zip(self.shadow, parameters):
            s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    @torch.no_grad()
    def swap(self, parameters):
        """Exchange shadow and live parameters (call twice to undo)."""
        for s, p in zip(self.shadow, parameters):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)
