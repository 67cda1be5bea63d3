"""Model files (``model.pt``): hyperparameters and tensors, no pickled classes, written atomically.

They load with ``torch.load(..., weights_only=True)``; :func:`load_model` rebuilds the
:class:`ictp.ICTP` from them.
"""

import pickle
from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..files import atomic_save
from .config import ModelConfig
from .ictp import ICTP

__all__ = ["save_model", "load_model", "model_to_dict"]

FORMAT_VERSION = 1


def model_to_dict(model: ICTP) -> Dict[str, Any]:
    """Everything needed to rebuild ``model``: hyperparameters and tensors, no pickled classes."""
    return {
        "format_version": FORMAT_VERSION,
        "hyperparameters": model.hyperparameters,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


def save_model(model: ICTP, path: Union[str, Path], **extra):
    """Write a model file (``model.pt``); ``extra`` (plain Python values) is stored beside it."""
    atomic_save({**model_to_dict(model), **extra}, path)


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> ICTP:
    """Rebuild a model from :func:`save_model`'s file, with weights-only unpickling."""
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError) as error:
        reason = str(error).splitlines()[0].split(". ")[0]
        raise ValueError(
            f"{path} is not a readable ictp model file (corrupt, truncated or another format): {reason}"
        ) from error
    if not isinstance(data, dict) or "hyperparameters" not in data:
        raise ValueError(f"{path} is not an ictp model file (no hyperparameters found)")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {data['format_version']}, newer than this ictp understands "
            f"({FORMAT_VERSION}); upgrade ictp"
        )
    model = ICTP(config=ModelConfig(**data["hyperparameters"]))
    model.load_state_dict(data["state_dict"])
    return model.to(device)
