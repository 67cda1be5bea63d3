"""Exponential moving average (EMA) of the weights: used for validation, checkpoints and the final model."""

from typing import Sequence

import torch

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage:
    """Shadow copy of the parameters, ``s ← d_t·s + (1-d_t)·p`` after update ``t = 1, 2, …``.

    With ``warmup`` the decay ramps up as ``d_t = min(d, (1 + t)/(10 + t))``
    (torch_ema's rule, which the paper's code and MACE use): the average
    forgets the random initial weights within the first tens of steps instead
    of carrying them for about ``1/(1-d)`` steps (100 at d = 0.99), which shows
    as a large, slowly shrinking validation energy error early in a run.
    Without it, ``d_t = d`` from the first step.
    """

    def __init__(self, parameters: Sequence[torch.nn.Parameter], decay: float, warmup: bool = True):
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.shadow = [p.detach().clone() for p in parameters]

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        t = self.num_updates + 1
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self, parameters):
        decay = self.current_decay()
        self.num_updates += 1
        for s, p in zip(self.shadow, parameters):
            s.mul_(decay).add_(p.detach(), alpha=1 - decay)

    @torch.no_grad()
    def swap(self, parameters):
        """Exchange shadow and live parameters (call twice to undo)."""
        for s, p in zip(self.shadow, parameters):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)
