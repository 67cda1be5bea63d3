"""Saving and loading: models as plain tensors and metadata (weights-only loadable), checkpoints written atomically."""

import os
import pickle
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Union

import torch

from ..model import ICTP

__all__ = ["atomic_write", "atomic_save", "save_model", "load_model", "model_to_dict"]

FORMAT_VERSION = 1


def atomic_write(path: Union[str, Path], write: Callable[[str], None]):
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    A crash or an exception in ``write`` never leaves half a file (the temporary one is removed);
    the data reach the disk before the rename. The file gets the permissions of a plain ``open``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix}")  # the suffix stays (loaders look at it)
    open(tmp, "xb").close()  # a new name, created with the umask's permissions (unlike mkstemp's 0600)
    try:
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: Union[str, Path]):
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def model_to_dict(model: ICTP) -> Dict[str, Any]:
    """Everything needed to rebuild ``model``: hyperparameters and tensors, no pickled classes."""
    return {
        "format_version": FORMAT_VERSION,
        "hyperparameters": {**model.hyperparameters, "dtype": str(model.dtype).replace("torch.", "")},
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
    hyper = dict(data["hyperparameters"])
    hyper["dtype"] = getattr(torch, hyper["dtype"])
    model = ICTP(**hyper)
    model.load_state_dict(data["state_dict"])
    return model.to(device)
