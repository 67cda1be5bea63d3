"""The moving average of the weights: torch_ema's warm-up rule, or a constant decay."""

import pytest
import torch

from ictp.training.ema import ExponentialMovingAverage


def averaged(values, decay, warmup):
    parameter = torch.nn.Parameter(torch.tensor([values[0]], dtype=torch.float64))
    ema = ExponentialMovingAverage([parameter], decay, warmup)
    for value in values[1:]:
        parameter.data.fill_(value)
        ema.update([parameter])
    return ema


def test_warmup_follows_torch_ema():
    values = [0.0, 1.0, 3.0, -2.0, 5.0]
    expected = values[0]
    for t, value in enumerate(values[1:], start=1):  # torch_ema: decay_t = min(d, (1 + t) / (10 + t))
        decay = min(0.99, (1 + t) / (10 + t))
        expected = decay * expected + (1 - decay) * value
    ema = averaged(values, 0.99, warmup=True)
    assert ema.shadow[0].item() == pytest.approx(expected, rel=1e-14)
    assert ema.num_updates == 4
    assert ema.current_decay() == pytest.approx(6 / 15)


def test_without_warmup_the_decay_is_constant():
    ema = averaged([0.0, 1.0, 1.0], 0.9, warmup=False)
    assert ema.shadow[0].item() == pytest.approx(1 - 0.9**2, rel=1e-14)
    assert ema.current_decay() == 0.9


def test_warmup_forgets_the_initial_weights_within_tens_of_steps():
    """After 90 steps (one AcAc epoch at batch 5) the initial weights keep nothing with warm-up, 40 % without."""
    steps = [1.0] + [0.0] * 90
    assert averaged(steps, 0.99, warmup=True).shadow[0].item() < 1e-10
    assert averaged(steps, 0.99, warmup=False).shadow[0].item() == pytest.approx(0.99**90)
