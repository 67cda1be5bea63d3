"""Training checkpoints (``checkpoint.pt``): everything a run needs to continue exactly.

Weights (as a model file, :mod:`ictp.model.io`), EMA weights, optimiser and
scheduler state, the last finished epoch and the best validation loss so far:
tensors and plain values only, so the file loads with weights-only unpickling.
Written atomically after every epoch.
"""

from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from ..files import atomic_save
from ..model import ICTP
from ..model.io import model_to_dict, read_tensor_file
from .ema import ExponentialMovingAverage

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(
    path: Union[str, Path],
    model: ICTP,
    optimizer: torch.optim.Optimizer,
    scheduler,
    ema: Optional[ExponentialMovingAverage],
    epoch: int,
    best: float,
    best_epoch: int,
):
    """Write the state of a run after ``epoch``; ``best`` is the best validation loss, reached at ``best_epoch``."""
    checkpoint = {
        "model": model_to_dict(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "ema": [s.clone() for s in ema.shadow] if ema is not None else [],
        "ema_updates": ema.num_updates if ema is not None else 0,
        "epoch": epoch, "best": best, "best_epoch": best_epoch,
    }  # fmt: skip
    atomic_save(checkpoint, path)


def load_checkpoint(
    path: Union[str, Path],
    model: ICTP,
    optimizer: torch.optim.Optimizer,
    scheduler,
    ema: Optional[ExponentialMovingAverage],
    device: torch.device,
) -> Tuple[int, float, int]:
    """Restore ``model``, ``optimizer``, ``scheduler`` and ``ema`` in place; returns ``(epoch, best, best_epoch)``.

    ValueError for a file that is not a readable checkpoint or does not fit ``model``.
    """
    state = read_tensor_file(path, "training checkpoint", device)
    try:
        model.load_state_dict(state["model"]["state_dict"])
    except (KeyError, TypeError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[-1].strip()
        raise ValueError(
            f"{path} does not fit the model of the run's config.json ({reason}); was config.json edited? "
            "Restore it, or start a new run"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if ema is not None:
        ema.shadow = [t.to(device) for t in state["ema"]]
        ema.num_updates = state.get("ema_updates", 0)  # absent before ictp 0.2: those runs have no warm-up
    return state["epoch"], state["best"], state["best_epoch"]
