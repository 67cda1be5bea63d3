"""The stages of a run: the main stage, then optionally Stage Two (MACE's ``--stage_two``).

From epoch ``start_stage_two`` on, the loss uses the ``stage_two_*`` weights
(typically a much larger energy weight), the learning rate is set to
``stage_two_lr`` and no longer follows the plateau scheduler, and the model
kept is the last epoch's (the training loop writes ``model.pt`` after every
Stage Two epoch): the Stage Two validation loss, dominated by the forces that
the stage trades for energies, is a poor judge of it.
The stage depends only on the epoch, so a resumed run switches where an
uninterrupted one would.
"""

from typing import Tuple

import torch

from .config import TrainingConfig

__all__ = ["in_stage_two", "loss_weights", "start_stage_two"]


def in_stage_two(config: TrainingConfig, epoch: int) -> bool:
    """Whether ``epoch`` belongs to Stage Two."""
    return config.stage_two and epoch >= config.start_stage_two


def loss_weights(config: TrainingConfig, epoch: int) -> Tuple[float, float, float]:
    """Energy, force and virial weights of the loss in ``epoch``."""
    if in_stage_two(config, epoch):
        virials = config.stage_two_virials_weight if config.virials_weight > 0 else 0.0  # no stress fit: none now
        return config.stage_two_energy_weight, config.stage_two_forces_weight, virials
    return config.energy_weight, config.forces_weight, config.virials_weight


def start_stage_two(config: TrainingConfig, optimizer: torch.optim.Optimizer, epoch: int) -> bool:
    """At the first epoch of Stage Two, set its learning rate and return True (the best validation loss restarts)."""
    if not (config.stage_two and epoch == config.start_stage_two):
        return False
    for group in optimizer.param_groups:
        group["lr"] = config.stage_two_lr * group.get("lr_scale", 1.0)
    return True
